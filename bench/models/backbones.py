"""Backbones by name: each maps (B, C, H, W) images to (B, out_dim) vectors."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision.models import resnet

from bench.models.pretrained import is_library_backbone, library_backbone
from bench.registry import Registry

BackboneFactory = Callable[[int], tuple[nn.Module, int]]
BACKBONES: Registry[BackboneFactory] = Registry("architecture")


def _conv_block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True), nn.MaxPool2d(2)]


def small_cnn(in_channels: int,
              widths: tuple[int, int, int] = (16, 32, 64)) -> tuple[nn.Module, int]:
    """Three conv-BN-ReLU-pool blocks and a 3×3 adaptive pool: for 28×28 and 32×32 inputs.

    Sized for CPU training (about 7k images/s on 2 cores at batch 128).
    """
    a, b, c = widths
    net = nn.Sequential(*_conv_block(in_channels, a), *_conv_block(a, b), *_conv_block(b, c),
                        nn.AdaptiveAvgPool2d(3), nn.Flatten())
    return net, c * 9


def resnet_mini(in_channels: int, widths: tuple[int, int, int] = (16, 32, 64),
                ) -> tuple[nn.Module, int]:
    """A CIFAR-style ResNet-8: a 3×3 stem, then three stages of one basic block (torchvision's
    `BasicBlock`), each halving the resolution. Deeper than `small-cnn` (7 convolutions and
    shortcuts, 3× the parameters) at a similar CPU cost: the CPU stand-in for ResNet upgrades."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    c_in = widths[0]
    for width in widths:
        shortcut = nn.Sequential(nn.Conv2d(c_in, width, 1, stride=2, bias=False),
                                 nn.BatchNorm2d(width))
        layers.append(resnet.BasicBlock(c_in, width, stride=2, downsample=shortcut))
        c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), c_in


def cifar_resnet(depth: int, in_channels: int) -> tuple[nn.Module, int]:
    """torchvision's ResNet-18/50 (random init, never downloaded) with the CIFAR stem of the
    compatibility papers: a 3×3 stride-1 first convolution and no max-pool."""
    net = {18: resnet.resnet18, 50: resnet.resnet50}[depth](weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def build_backbone(name: str, in_channels: int, weights: str = "") -> tuple[nn.Module, int]:
    """Instantiate a registered backbone, or a library's network (`torchvision:NAME`,
    `timm:NAME`) from `weights` (bench.models.pretrained); returns the module and its output
    dimension."""
    if is_library_backbone(name):
        return library_backbone(name, in_channels, weights)
    if weights:
        raise ValueError(f"architecture {name!r} takes no weights; pretrained weights need a "
                         f"library network, e.g. torchvision:resnet50")
    return BACKBONES.get(name)(in_channels)


BACKBONES.add("small-cnn", small_cnn, "compat-bench")
BACKBONES.add("small-cnn-wide", lambda c: small_cnn(c, (32, 64, 128)), "compat-bench")
BACKBONES.add("resnet-mini", resnet_mini, "compat-bench")
BACKBONES.add("resnet18", lambda c: cifar_resnet(18, c), "compat-bench")
BACKBONES.add("resnet50", lambda c: cifar_resnet(50, c), "compat-bench")
