"""Issue 28, item 2: ``palxfel-globus report``, the morning page: one self-contained HTML file with charts, in
English and Korean, checked as text here and in a real headless browser (Debian's chromium) that renders every
chart, on a desktop and a phone's width, prints it, and takes a screenshot."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import Daq
from tests_support import HOUR, MS, UE, chosen_tree, config_file

Cli = Callable[..., "tuple[int, str, str]"]
CHARTS = ["backlog", "bytes_per_day", "waits", "failures", "states"]


@pytest.fixture
def site(daq: Daq, tmp_path: Path) -> dict[str, Any]:
    """Issue 28's chosen tree (shipped, waiting and verified-long-ago scans) with a failed scan, a quarantined one
    and a blocked one whose name is full of HTML's special characters; and a config file for it."""
    tree = chosen_tree(daq)
    now = tree["now"]
    failed = daq.scan(UE, "pump probe", 6)
    stuck = daq.scan(MS, "timing", 2)
    odd = daq.scan(UE, 'a<b>&"c', 7)
    for scan in (failed, stuck, odd):
        os.utime(scan / ".done", (now - 2 * HOUR, now - 2 * HOUR))
    (odd / "ScanInfo" / "alias.h5").symlink_to("/etc/hostname")
    error = "the Transfer task 6f1c2a4e-5b3d-4c8e-9a7f-0d2e4b6c8a10 ended FAILED: connection reset"
    for scan, attempts in ((failed, 3), (stuck, 1)):
        outcome = {"experiment": scan.parent.parent.name, "scan": scan.name, "error": error}
        config = {**daq.config, "max_attempts": attempts}
        daq.call("record_outcome", config=config, run_id="run-f", now=now - HOUR, outcomes=[outcome])
    daq.find(run_id="run-g", now=now)  # blocks the odd scan, claims the waiting ones
    daq.call("record_outcome", run_id="run-g", now=now, error="the test ends this run")  # and gives them back
    states = daq.states()
    assert [states[f"{UE}/{scan.name}"] for scan in (failed, odd)] == ["failed", "blocked"]
    assert states[f"{MS}/{stuck.name}"] == "quarantined"
    return dict(tree, config=config_file(daq, daq.root.parent / "palxfel-globus.toml"), odd=odd)


def test_the_page_is_one_self_contained_file_in_english_and_korean(site: dict[str, Any], cli: Cli) -> None:
    page = site["config"].parent / "report.html"
    code, out, err = cli("report", "--config", str(site["config"]), "--html", str(page))
    assert (code, err) == (0, "") and out == f"Wrote the report of 8 scans (the last 14 days) to {page}.\n"
    text = page.read_text("utf-8")
    for outside in ("<script", "http://", "https://", " src=", "url(", "@import", "<link"):
        assert outside not in text, f"{outside} would need something besides the file"
    assert re.findall(r'<figure class="chart" data-chart="([a-z_]+)"', text) == CHARTS
    assert "data-empty" not in text, "every chart has something to draw"
    odd = f"{UE}/{site['odd'].name}"
    assert html.escape(odd) in text and odd not in text, "a scan's name is text, never markup"
    assert "the Transfer task &lt;id&gt; ended FAILED: connection reset" in text, "alike failures count together"
    assert '<html lang="en">' in text and "Scans that need a person" in text
    code, out, err = cli("report", "--config", str(site["config"]), "--html", str(page), "--lang", "ko")
    korean = page.read_text("utf-8")
    assert code == 0 and '<html lang="ko">' in korean
    for words in ("복구 시점", "사람이 봐야 할 스캔", "완료부터 검증까지 걸린 시간", "가장 오래 기다리는 스캔"):
        assert words in korean
    assert re.findall(r'data-chart="([a-z_]+)"', korean) == CHARTS


def test_the_figures_are_the_ledgers(site: dict[str, Any], cli: Cli, daq: Daq) -> None:
    code, out, _err = cli("report", "--config", str(site["config"]), "--json", "--days", "30")
    figures = json.loads(out)
    assert code == 0 and figures["days"] == 30
    assert figures["totals"] == {
        "complete": 8,
        "waiting": 4,  # c, the failed, the quarantined and the blocked one
        "shipped": 4,
        "released": 0,
        "blocked": 1,
        "quarantined": 1,
        "failed": 1,
    }
    assert figures["recovery"] == daq.call("list_scans", now=figures["generated_at"], days=30)["recovery"]
    assert sum(figures["waits"]["ue_*"]) == 3 and sum(figures["waits"]["ms_*"]) == 1
    (ue, ms) = figures["places"]
    assert (ue["counts"]["verified"], ue["waiting"], ms["counts"]["verified"], ms["waiting"]) == (3, 3, 1, 1)
    assert sum(figures["bytes_per_day"][ue["label"]]) == ue["verified_bytes"], "all three verified in the window"
    assert figures["backlog"]["ue_*"][-1] == 3 and figures["backlog"]["ms_*"][-1] == 1
    assert [row["state"] for row in figures["need_a_person"]] == ["quarantined", "blocked"]
    code, out, _err = cli("report", "--config", str(site["config"]))
    said = [" ".join(line.split()) for line in out.splitlines()]
    assert code == 0 and said[0] == "Recovery point (waits over the last 14 days):"
    assert said[-3:] == [
        "Scans: 8 complete, 4 waiting, 4 shipped, 0 released, 1 blocked, 1 quarantined.",
        "2 scan(s) need a person; 'palxfel-globus scans list' says why.",
        "'palxfel-globus report --html FILE' writes the page with its charts.",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--lang", "fr"], "--lang fr: give one of en, ko."),
        (["--html", "{dir}"], "--html {dir} is a directory; give a file name such as {dir}/backup-report.html."),
        (
            ["--html", "{dir}/missing/r.html"],
            "--html {dir}/missing/r.html: the directory {dir}/missing does not exist.",
        ),
    ],
)
def test_bad_input_is_one_sentence(site: dict[str, Any], cli: Cli, arguments: list[str], message: str) -> None:
    where = str(site["config"].parent)
    code, out, err = cli("report", "--config", str(site["config"]), *[part.format(dir=where) for part in arguments])
    assert (code, out, err) == (2, "", f"Error: {message.format(dir=where)}\n")
    assert not list(site["config"].parent.glob("*.html"))


# --- in a real browser ------------------------------------------------------------------------------------------
NARROWEST = 500  # the narrowest window headless Chromium lays a page out in; the page's narrow layout applies there
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
# Appended to a copy of the page (the page itself has no script): what the browser laid out, as JSON in the DOM.
MEASURE = """<script>
(function () {
  var charts = Array.prototype.map.call(document.querySelectorAll("figure.chart"), function (figure) {
    var svg = figure.querySelector("svg"), box = svg.getBoundingClientRect();
    var drawn = Array.prototype.filter.call(svg.querySelectorAll(".mark"), function (mark) {
      var b = mark.getBBox(); return b.width > 0 || b.height > 0;
    });
    return {name: figure.dataset.chart, width: box.width, height: box.height, marks: drawn.length};
  });
  var out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({charts: charts, page: document.documentElement.scrollWidth, window: innerWidth});
  document.body.appendChild(out);
})();
</script>"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt-get where it is missing (as root, which the developers' machines and CI
    are); the browser tests are skipped, saying why, only where it cannot be installed."""
    found = shutil.which("chromium")
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("no chromium, and no apt-get run as root to install Debian's: the page is checked as text only")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600", "chromium", "fonts-nanum"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1800)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"chromium could not be installed ('{' '.join(command)}' said: {last})")
    return shutil.which("chromium") or pytest.skip("apt-get installed chromium, but it is not on PATH")


def browse(chromium: str, profile: Path, *arguments: str) -> str:
    result = subprocess.run(
        [chromium, *BROWSER_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def measured(chromium: str, page: Path, profile: Path, width: int) -> dict[str, Any]:
    """The page laid out in a window ``width`` pixels wide: each chart's box and drawn marks."""
    probe = page.with_name(f"measured-{page.name}")
    probe.write_text(page.read_text("utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = browse(chromium, profile, f"--window-size={width},900", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.DOTALL)
    assert found, "the browser did not lay the page out"
    return json.loads(html.unescape(found.group(1)))


def colours_of(path: Path) -> tuple[tuple[int, int], set[tuple[int, int, int]]]:
    """(size, every colour painted) of a screenshot, read by Pillow."""
    from PIL import Image

    with Image.open(path) as image:
        painted = image.convert("RGB")
        return painted.size, {colour for _count, colour in painted.getcolors(maxcolors=1 << 24)}


def test_a_real_browser_renders_every_chart_on_a_desktop_and_a_phone_prints_it_and_shows_it(
    site: dict[str, Any], cli: Cli, chromium: str, tmp_path: Path
) -> None:
    """Each chart is laid out with a size and draws its marks, in both languages, in a desktop window and in the
    narrowest one (below 40rem the page is one column, its tables scroll inside their own box), where the page
    never scrolls sideways; the screenshot shows the series' colours painted; the print is a PDF."""
    for language in ("en", "ko"):
        page = tmp_path / f"report-{language}.html"
        code, _out, err = cli("report", "--config", str(site["config"]), "--html", str(page), "--lang", language)
        assert code == 0, err
        for width in (1280, NARROWEST):  # a desktop window, and a phone's layout
            layout = measured(chromium, page, tmp_path / f"profile-{language}-{width}", width)
            assert [chart["name"] for chart in layout["charts"]] == CHARTS
            for chart in layout["charts"]:
                assert chart["width"] > 200 and chart["height"] > 60, (language, width, chart)
                assert chart["marks"] > 0, f"{chart['name']} drew nothing ({language}, {width} px)"
                assert chart["width"] <= width
            assert layout["page"] <= layout["window"], f"the page scrolls sideways at {width} px ({language})"
    screenshot = tmp_path / "report.png"
    browse(chromium, tmp_path / "profile-shot", "--window-size=1280,2400", f"--screenshot={screenshot}", page.as_uri())
    size, colours = colours_of(screenshot)
    assert size == (1280, 2400)
    for drawn in ((0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73)):  # the first series' colours
        assert drawn in colours, f"no pixel of {drawn} in {screenshot}: the charts were not painted"
    printed = tmp_path / "report.pdf"
    browse(chromium, tmp_path / "profile-print", "--no-pdf-header-footer", f"--print-to-pdf={printed}", page.as_uri())
    document = printed.read_bytes()
    assert document.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", document)) >= 1
    print(f"screenshot: {screenshot}; printed: {printed}")
