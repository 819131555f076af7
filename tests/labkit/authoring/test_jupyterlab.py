"""JupyterLab as a student or instructor meets it: ``make lab``, a lab run through the UI in Debian's Chromium.

``make lab`` (the venv's JupyterLab, 127.0.0.1 only, with its token) is started on a free loopback port, serving a
temporary copy of ``notebooks/`` (the UI saves, and would otherwise write into the repository's notebooks).
Selenium drives Debian's chromium through the system chromedriver (nothing is downloaded):

* lab 01's solution, run through the menus (Edit > Clear Outputs of All Cells, Run > Run All Cells) at its own
  settings: no cell ends in an
  error, at least one figure is rendered, tqdm never says "IProgress not found";
* a lab opened and closed again: JupyterLab never marks it modified, asks nothing, and its file is unchanged.

Skips, with its reason, where chromium, chromedriver or selenium is missing
(``apt-get install -y chromium chromium-driver``); fails there instead when ``LABKIT_REQUIRE_BROWSER`` is set, as
``.ci/run`` sets it after installing them.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
RUN_LAB = "01_cnn_arithmetic_solution.ipynb"      # ~6 s at its own settings, several figures
OPEN_LAB = "06_backprop_by_hand_student.ipynb"    # opened and closed only
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000"]



@pytest.fixture(scope="module", autouse=True)
def _browser_installed():
    """Skip, saying why, where the browser is missing; fail instead where CI asks for it (LABKIT_REQUIRE_BROWSER,
    set by .ci/run after it installs chromium)."""
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if path is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        if os.environ.get("LABKIT_REQUIRE_BROWSER"):
            pytest.fail(f"{', '.join(missing)} missing although LABKIT_REQUIRE_BROWSER is set")
        pytest.skip(f"{', '.join(missing)} not installed here (apt-get install -y chromium chromium-driver; "
                    "requirements.txt pins selenium): JupyterLab was not tried in a browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """``make lab`` on a free loopback port, serving a copy of two labs; (base URL, token, notebooks folder)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    tree = base / "tree"
    (tree / "notebooks").mkdir(parents=True)
    for name in (RUN_LAB, OPEN_LAB):
        shutil.copy2(ROOT / "notebooks" / name, tree / "notebooks" / name)
    (tree / "data").symlink_to(ROOT / "data")         # the set-up cell moves to tree/: data/ as in the repository
    # every cell in the page (JupyterLab 4 otherwise renders only the cells in view), so the test can count them
    settings = base / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}', encoding="utf-8")
    port = _free_port()
    # a fresh JupyterLab: no user configuration, settings or workspace; kernels with matplotlib's default (inline)
    env = {**{k: v for k, v in os.environ.items() if k != "MPLBACKEND"}, "JUPYTER_CONFIG_DIR": str(base / "config"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}
    log = open(base / "server.log", "w+", encoding="utf-8")
    # -o: take .venv/.installed as up to date (a test never reinstalls the venv); --no-browser: the test's own
    server = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", "lab", f"PORT={port}",
                               f"NOTEBOOKS={tree / 'notebooks'}", "ARGS=--no-browser"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    token, deadline = None, time.monotonic() + 120
    while token is None and time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"make lab exited: {(base / 'server.log').read_text()[-3000:]}")
        found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=([0-9a-f]+)", (base / "server.log").read_text())
        token = found and found[1]
        time.sleep(0.5)
    if token is None:
        os.killpg(server.pid, signal.SIGTERM)
        pytest.fail(f"make lab printed no http://127.0.0.1:{port}/lab?token=... URL: "
                    f"{(base / 'server.log').read_text()[-3000:]}")
    try:
        yield f"http://127.0.0.1:{port}", token, tree / "notebooks", base
    finally:
        os.killpg(server.pid, signal.SIGTERM)      # make, JupyterLab and its kernels: the group this test started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def browser(lab_server, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(what, predicate, timeout=180, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def _open(driver, lab_server, name):
    """Open notebooks/<name> in JupyterLab and wait until its kernel is idle."""
    base, token, _, _ = lab_server
    from selenium.webdriver.common.by import By
    driver.get(f"{base}/lab/tree/{name}?token={token}")
    _wait(f"{name} to open", lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell"))
    _wait(f"{name}'s kernel to be idle", lambda: _kernel_idle(driver))


def _kernel_idle(driver) -> bool:
    from selenium.webdriver.common.by import By
    return bool(driver.find_elements(By.CSS_SELECTOR, '.jp-NotebookPanel .jp-Notebook-ExecutionIndicator'
                                                      '[data-status="idle"]'))


def _menu(driver, menu, item):
    """Click ``menu`` in the menu bar, then its ``item``."""
    from selenium.webdriver.common.by import By
    bar = _wait(f"the {menu} menu", lambda: [e for e in driver.find_elements(
        By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text == menu])
    bar[0].click()
    entry = _wait(f"{menu} > {item}", lambda: [e for e in driver.find_elements(
        By.CSS_SELECTOR, ".lm-Menu-itemLabel") if e.text == item and e.is_displayed()])
    entry[0].click()


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except ValueError:
        return False


def _prompts(driver) -> list[str]:
    from selenium.webdriver.common.by import By
    return [p.text for p in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputArea-prompt")]


def test_make_lab_listens_on_loopback_with_a_token(lab_server):
    base, token, _, home = lab_server
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base}/api/status", timeout=10)
    assert refused.value.code == 403, "the server answered without its token"
    with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=10) as reply:
        assert reply.status == 200
    servers = [json.loads(p.read_text()) for p in (home / "runtime").glob("jpserver-*.json")]
    assert servers and all(s["hostname"] == "127.0.0.1" and s["token"] for s in servers), servers


def test_a_lab_runs_through_the_menus_without_errors_and_shows_figures(lab_server, browser):
    from selenium.webdriver.common.by import By
    _, _, notebooks, _ = lab_server
    _open(browser, lab_server, RUN_LAB)
    code_cells = sum(c["cell_type"] == "code" for c in json.loads((notebooks / RUN_LAB).read_text())["cells"])
    _wait(f"all {code_cells} code cells in the page", lambda: len(_prompts(browser)) == code_cells, timeout=60)
    _menu(browser, "Edit", "Clear Outputs of All Cells")     # the stored outputs go: what shows next is this run's
    _wait("the outputs to be cleared", lambda: not [p for p in _prompts(browser) if re.search(r"\d", p)], timeout=30)
    _menu(browser, "Run", "Run All Cells")
    _wait("every cell to run", lambda: all(re.fullmatch(r"\[\d+\]:", p) for p in _prompts(browser))
          and _kernel_idle(browser), timeout=600)
    figures = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .jp-RenderedImage img")
    assert figures and all(f.get_attribute("naturalWidth") not in (None, "0") for f in figures), "no figure was rendered"
    page = browser.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel").text
    assert "IProgress not found" not in page and "Traceback" not in page
    saved = notebooks / RUN_LAB
    before = saved.stat().st_mtime_ns
    _menu(browser, "File", "Save Notebook")
    _wait("the notebook to be saved", lambda: saved.stat().st_mtime_ns != before and not [
        t for t in browser.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab.jp-mod-dirty") if RUN_LAB in t.text]
        and _parses(saved), timeout=60)
    nb = json.loads(saved.read_text(encoding="utf-8"))
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb["cells"]) for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    ran = [c for c in nb["cells"] if c["cell_type"] == "code" and c.get("execution_count")]
    assert len(ran) == code_cells
    assert any("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))


def test_opening_and_closing_a_lab_leaves_its_file_unchanged(lab_server, browser):
    from selenium.webdriver.common.by import By
    _, _, notebooks, _ = lab_server
    path = notebooks / OPEN_LAB
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    _open(browser, lab_server, OPEN_LAB)
    time.sleep(3)                                      # JupyterLab rewrites a kernelspec it dislikes right away
    tab = [t for t in browser.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab") if OPEN_LAB in t.text]
    assert tab and "jp-mod-dirty" not in (tab[0].get_attribute("class") or ""), "JupyterLab marked the lab modified"
    _menu(browser, "File", "Close Tab")
    time.sleep(2)
    assert not browser.find_elements(By.CSS_SELECTOR, ".jp-Dialog"), "closing the lab asked something"
    assert not [t for t in browser.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab") if OPEN_LAB in t.text]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
