"""The published page in a real headless browser (Debian's chromium and chromedriver, driven by
selenium): it loads offline, a click on a column header sorts the table, the protocol switch
re-ranks it, and the method cards are on it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bench.boards import collect_boards
from bench.cards import board_cards
from bench.orchestration import RunConfig, run
from bench.page import best_values, confidence_interval
from bench.plugins import load_plugins
from bench.publish import publish
from tests.conftest import TINY

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """Real tiny runs of three methods over two seeds."""
    out = tmp_path_factory.mktemp("results")
    run(RunConfig(scenario=str(TINY), methods=["independent", "l2", "lwf"], seeds=[0, 1],
                  out_dir=out, download=False), load_plugins(), log=lambda _: None)
    return out


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        message = "chromium and chromedriver are needed (scripts/bootstrap installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def column(driver, table_id: str, index: int) -> list[str]:
    return [row.find_elements("css selector", "td")[index].text
            for row in driver.find_elements("css selector", f"#{table_id} tbody tr")]


def test_the_page_sorts_switches_protocol_and_shows_the_cards(results_dir, tmp_path, browser):
    boards = collect_boards([results_dir])
    cards = board_cards(load_plugins(), boards)
    publish(boards, tmp_path / "site", None, cards)
    browser.get((tmp_path / "site" / "index.html").as_uri())
    board = boards[0]
    table_id = f"board-{board.slug}"
    assert column(browser, table_id, 1) == list(board.table["method"])  # the board's order

    headers = browser.find_elements("css selector", f"#{table_id} thead th")
    method_header = next(h for h in headers if h.text == "method")
    method_header.click()
    assert column(browser, table_id, 1) == sorted(board.table["method"])
    method_header.click()  # again: reversed
    assert column(browser, table_id, 1) == sorted(board.table["method"], reverse=True)

    final = next(h for h in headers if h.text == "final top-1")
    final.click()  # higher is better: best first
    expected = board.table.sort_values("final_top1", ascending=False, kind="stable")
    assert column(browser, table_id, 1) == list(expected["method"])

    from selenium.webdriver.support.select import Select

    switch = Select(browser.find_element("css selector", f"select[data-table='{table_id}']"))
    switch.select_by_value("seen-classes")
    ranks = board.protocol_ranks.set_index("method")["seen-classes"]
    shown = dict(zip(column(browser, table_id, 1), column(browser, table_id, 0), strict=True))
    assert shown == {m: str(int(r)) for m, r in ranks.items()}
    assert [int(r) for r in column(browser, table_id, 0)] == sorted(int(r) for r in ranks)
    ranges = board.protocol_ranges.set_index("method")["seen-classes"]
    assert dict(zip(column(browser, table_id, 1), column(browser, table_id, 2),
                    strict=True)) == ranges.to_dict()

    best = browser.find_elements("css selector", f"#{table_id} td.best")
    assert best and all(cell.get_attribute("data-value") for cell in best)
    summary_methods = column(browser, "summary", 0)
    assert sorted(summary_methods) == board.methods
    for name in board.methods:
        card = browser.find_element("id", f"method-{name}")
        assert card.tag_name == "details" and name in card.text

    screenshot = tmp_path / "page.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_best_value_follows_the_metrics_direction():
    import pandas as pd

    table = pd.DataFrame({"AC": [0.2, 0.9], "negative_flips": [0.3, 0.1], "seeds": [3, 1],
                          "side_info_bytes": [None, 128]})
    columns = ["AC", "negative_flips", "seeds", "side_info_bytes"]
    assert best_values(table, columns) == {"AC": 0.9, "negative_flips": 0.1}
    low, high = confidence_interval(0.5, 0.1, 3)  # t(0.975, 2) = 4.303
    assert high - 0.5 == pytest.approx(0.5 - low) == pytest.approx(4.303 * 0.1 / 3 ** 0.5)
    assert confidence_interval(0.5, 0.1, 1) is None


def test_a_published_site_stands_alone(results_dir, tmp_path):
    """No resource from the network: every src and href is relative or a fragment."""
    boards = collect_boards([results_dir])
    publish(boards, tmp_path, None, board_cards(load_plugins(), boards))
    text = (tmp_path / "index.html").read_text()
    assert "http://" not in text.replace("https://github.com", "")
    assert "<script src" not in text and "stylesheet" not in text
    for reference in Path(tmp_path).glob("*/cross-model.png"):
        assert reference.stat().st_size > 0
