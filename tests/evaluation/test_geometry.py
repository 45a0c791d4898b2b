"""Feature-geometry diagnostics on features whose answer is known."""

import numpy as np
import pytest

from bench.evaluation.geometry import feature_geometry


def test_orthogonal_classes_that_do_not_move_and_one_that_turns():
    labels = np.repeat([0, 1, 2], 4)
    eye = np.eye(3)
    first = eye[labels] * 2.0  # norms do not matter, directions do
    second = eye[labels].copy()
    turned = np.array([np.cos(np.pi / 3), np.sin(np.pi / 3), 0.0])  # class 0 turns by 60°
    second[labels == 0] = turned
    second = np.hstack([second, np.zeros((len(labels), 2))])  # a wider model
    first_model, second_model = feature_geometry([first, second], labels, seen=[2, 3])
    assert first_model == {"model": 1, "classes": 2, "interclass_cosine": 0.0}
    assert second_model["classes"] == 3
    # class 0 now at cos 30° from class 1, orthogonal to class 2: mean over 6 ordered pairs
    assert second_model["interclass_cosine"] == pytest.approx(2 * np.sin(np.pi / 3) / 6,
                                                              abs=1e-4)
    # classes 0 and 1 were seen by both: class 0 moved to cos 0.5, class 1 did not move
    assert second_model["drift_cosine"] == pytest.approx((0.5 + 1.0) / 2, abs=1e-4)


def test_collapsed_classes_read_one():
    labels = np.repeat([0, 1], 3)
    (model,) = feature_geometry([np.ones((6, 4))], labels, seen=[2])
    assert model["interclass_cosine"] == pytest.approx(1.0)
