#!/usr/bin/env python3
"""The real-browser test: what a learner does in JupyterLab, done by Chromium and timed.

    scripts/browser_test.py                          # notebooks 00, 01, 03, 05, then 04 (five open); 3 restarts
    scripts/browser_test.py --notebooks 00,01 --restarts 5 --out out
    scripts/browser_test.py --headed-screenshots     # a visible Chromium window (needs $DISPLAY, e.g. xvfb-run)

The headless runner (scripts/run_notebooks.py) talks to the kernel the way nbclient does; a
learner talks to it through JupyterLab, where other things can go wrong: the kernel picker asks
instead of starting `rust`, a cell stays `[*]` because a reply was lost, Interrupt leaves the
notebook dead, Restart then Shift+Enter never answers, a table or a figure does not render, a
password shows on the page, or the notebook is saved over. This test opens JupyterLab in Chromium
(Debian's /usr/bin/chromium through Playwright; Playwright's own browser download is not used)
and does, with the keyboard and the mouse:

 1. starts JupyterLab with the README's command, scripts/lab.sh, on a free port with a random
    token, on the checkout's notebooks/ (they load ../helpers-dylib relatively, so no copy), with
    autosave off (settings in a fresh temporary user-settings dir) and a save hook that refuses
    every save; its log goes to <out>/lab/jupyterlab.log;
 2. opens the notebooks (default 00, 01, 03, 05) from the file browser, one tab each, one after
    another, each waiting for "Rust | Idle", and keeps every kernel running; a kernel-selection
    dialog, or a kernel other than `rust`, fails the test; after each notebook's lesson it
    records the kernels' build cache on disk (~/.cache/module8, hard links counted once);
 3. in each, runs with Shift+Enter every cell from the first code cell up to its first table cell
    (tagged `expect-html`) and its first figure cell (`expect-image`), and times each cell from
    the key press to its prompt turning from `[*]:` to `[n]:` (first cell limit 240 s, others
    120 s: past it the cell is stuck);
 4. interrupts a long cell: in --interrupt (default 04, one more open notebook) it runs the cells
    up to the first one that took >= 3 s in out/run-report.json (else a known long cell), starts
    that one, presses the toolbar's stop button after 1.5 s, and requires the cell to stop within
    30 s, to say what was lost and which cell to run again, and the first cell and the next one
    to run clean after it; what the interrupted cell printed goes into the report;
 5. restarts one kernel --restarts times (Kernel → Restart Kernel…, confirm, Shift+Enter on the
    first cell at once; each must answer within 120 s) and times restart → first result; a run
    whose prompt falls back from `[*]:` to `[ ]:` (the kernel died under it) fails like a hang;
 6. checks: no cell stuck; no error output (stderr other than cargo's progress, a panic, an error)
    except in the interrupted cell; no unexpected dialog (kernel picker, "the kernel appears to
    have died"); no kernel the server had to restart by itself (jupyterlab.log); at least one
    rendered HTML table and one rendered image; no
    password of a configured service URL on the page (passwords() of run_notebooks.py, its rule:
    `:<password>@` or `password=<password>`); the notebooks unchanged on disk (`git status
    --porcelain notebooks/` and their hashes); screenshots of each notebook in <out>/lab/<name>.png;
 7. writes <out>/lab-report.json: per notebook and cell (index in the .ipynb, first source line)
    the browser's time, the headless runner's time for the same cell from <out>/run-report.json
    when it exists, their ratio, the restart times and hangs, the interrupt's result; prints a
    table, and exits 1 with the list of what failed (2 when it could not start at all).

Every wait has a limit. At the end it shuts the kernels down through JupyterLab's REST API, then
stops JupyterLab (SIGTERM, then SIGKILL after 20 s) and the browser. Its figures are in
docs/notebook-performance.md (the JupyterLab session).

Needs: `playwright` in the venv (scripts/requirements.txt) and Chromium (`apt-get install
chromium`; another binary with M8_CHROMIUM=/path). The service URLs come from the environment
(.env is loaded by the shell scripts); the kernel writes its figures to M8_OUT_DIR, default <out>.
For developing this test against another folder and kernel: --notebook-dir DIR --kernel NAME
(e.g. small python3 notebooks); --interrupt-cell N picks the cell to interrupt by its index.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from run_notebooks import cell_name, passwords, stderr_problem  # noqa: E402  (the runner's rules)

CHROMIUM = os.environ.get("M8_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google (the network is
# closed here) and floods its log with refused connections. Playwright adds --headless itself.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# s: the first cell compiles its `:dep` line and loads helpers-dylib (the M8_LAB_* variables are
# for developing this test)
FIRST_CELL_TIMEOUT = float(os.environ.get("M8_LAB_FIRST_CELL_TIMEOUT", 240))
CELL_TIMEOUT = float(os.environ.get("M8_LAB_CELL_TIMEOUT", 120))
RESTART_TIMEOUT = 120     # s from the confirmed restart to the first cell's result
INTERRUPT_TIMEOUT = 30    # s from the stop button until the cell is no longer [*]
INTERRUPT_AFTER = 1.5     # s after starting the long cell
KERNEL_IDLE_TIMEOUT = 300 # s: bounded; a kernel answers in seconds (scripts/kernel/README.md)
LAB_START_TIMEOUT = 90
RESULT_PROMPT = re.compile(r"^\[\d+\]:$")  # a finished cell's prompt; [ ]: is a run that was dropped
LONG_CELL_S = 3.0         # a cell at least this long in run-report.json is worth interrupting
# Without a run-report: a cell known to take several seconds, by notebook prefix and source.
KNOWN_LONG_CELLS = {"04": "mq.connection_cuts("}  # ~4 s in run-report.json, 2026-12-07
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SCREENSHOT_HEIGHT = 8000

# Settings a learner could set too, written into a fresh user-settings dir: no autosave (the test
# must never write the notebooks), no news/update toasts over the page, and every cell in the DOM
# (JupyterLab 4 can window long notebooks; the test finds cells by their index).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
# A second guard, in the server: every save is refused (and logged), whatever the page does.
SAVE_REFUSED = "browser_test: save refused"
SERVER_CONFIG = f'''
from tornado.web import HTTPError

def refuse_save(model=None, path=None, **kwargs):
    print("{SAVE_REFUSED}: " + str(path), flush=True)
    raise HTTPError(403, "the browser test never saves notebooks")

c.ContentsManager.pre_save_hook = refuse_save
'''

# Installed in the page before JupyterLab loads: the times of key presses and clicks (page clock),
# and watches that record when a cell's prompt turns [*] and when it stops being [*].
PAGE_HELPERS = r"""
(() => {
  const bt = window.__bt = { lastKey: 0, lastClick: 0, watches: {} };
  window.addEventListener('keydown', e => { if (e.key === 'Enter') bt.lastKey = performance.now(); }, true);
  window.addEventListener('mousedown', () => { bt.lastClick = performance.now(); }, true);
  bt.cells = id => { const p = document.getElementById(id); return p ? Array.from(p.querySelectorAll('.jp-Notebook .jp-Cell')) : []; };
  bt.prompt = cell => { const e = cell && cell.querySelector('.jp-InputPrompt'); return e ? e.textContent.trim() : null; };
  bt.active = id => bt.cells(id).findIndex(c => c.classList.contains('jp-mod-active'));
  bt.watch = (id, i, key) => {
    const cell = bt.cells(id)[i];
    if (!cell) return false;
    const st = { armed: performance.now(), press: null, star: null, end: null, endPrompt: null, last: bt.prompt(cell) };
    const check = () => {
      const p = bt.prompt(cell), t = performance.now();
      if (p === '[*]:') {
        if (st.star === null) { st.star = t; st.press = bt.lastKey >= st.armed ? bt.lastKey : st.armed; }
      } else if (st.star !== null && st.end === null) {
        st.end = t; st.endPrompt = p; obs.disconnect();
      }
      st.last = p;
    };
    const obs = new MutationObserver(check);
    obs.observe(cell, { subtree: true, childList: true, characterData: true });
    bt.watches[key] = st;
    return true;
  };
  bt.cellInfo = (id, i) => {
    const cell = bt.cells(id)[i];
    if (!cell) return null;
    const outs = Array.from(cell.querySelectorAll('.jp-OutputArea-output'));
    return {
      prompt: bt.prompt(cell),
      running: bt.prompt(cell) === '[*]:',
      outputs: outs.map(o => ({ mime: o.getAttribute('data-mime-type') || '', text: (o.textContent || '').slice(0, 4000) })),
      table: !!cell.querySelector('.jp-OutputArea .jp-RenderedHTMLCommon table'),
      image: !!cell.querySelector('.jp-OutputArea .jp-RenderedImage img, .jp-OutputArea .jp-RenderedSVG img, .jp-OutputArea-output svg'),
      text: (cell.querySelector('.jp-Cell-outputWrapper') || cell).textContent || '',
    };
  };
  bt.kernelStatus = () => {
    const bar = document.querySelector('.jp-StatusBar-Widget');
    const m = bar && /(?:^|\n)([^\n|]+?) \| ([A-Za-z ]+?)\s*(?:\n|$)/.exec(bar.innerText);
    return m ? { kernel: m[1].trim(), status: m[2].trim() } : null;
  };
  bt.dialogs = () => Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.trim().replace(/\s+/g, ' '));
})();
"""


class TestFailed(Exception):
    """Stops the run: something a later step needs did not work (already in the failure list)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def first_line(source: str) -> str:
    line = source.splitlines()[0].strip() if source.strip() else "(empty)"
    return line if len(line) <= 70 else line[:67] + "..."


def shows_secret(text: str, secrets_: list[str]) -> bool:
    """The runner's rule (run_notebooks.check_cell): a password inside a URL or a key=value."""
    return any(f":{s}@" in text or f"password={s}" in text for s in secrets_)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


class Lab:
    """A JupyterLab server of the test's own: free port, random token, fresh settings, no saving."""

    def __init__(self, notebook_dir: Path, out: Path, tmp: Path):
        self.notebook_dir = notebook_dir
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = out / "jupyterlab.log"
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None
        self.log = None

    def start(self) -> None:
        settings, workspaces, config, runtime = (self.tmp / d for d in ("settings", "workspaces", "config", "runtime"))
        for name, value in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(value))
        for d in (workspaces, config, runtime):
            d.mkdir(parents=True, exist_ok=True)
        (config / "jupyter_server_config.py").write_text(SERVER_CONFIG)
        env = dict(os.environ)
        # The project's kernel spec (in the venv) first, as in run_notebooks.py; a config and
        # runtime dir of our own, so a user's ~/.jupyter config does not change the test.
        venv_share = Path(sys.prefix) / "share" / "jupyter"
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(venv_share), os.environ.get("JUPYTER_PATH")]))
        env["JUPYTER_CONFIG_DIR"] = str(config)
        env["JUPYTER_RUNTIME_DIR"] = str(runtime)
        # The README's command, scripts/lab.sh (which adds the notebooks folder, --no-browser,
        # --allow-root as root, the culling of idle kernels), with the test's own port, token
        # and settings; the services and setup steps were done by the caller.
        options = [
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if self.notebook_dir.resolve() == (ROOT / "notebooks").resolve():
            env["M8_LAB_SETUP"] = "0"
            cmd = ["bash", str(ROOT / "scripts" / "lab.sh")] + options
        else:  # developing this test against another folder
            cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.root_dir={self.notebook_dir}"] + options
            if os.geteuid() == 0:
                cmd.append("--allow-root")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=self.notebook_dir, start_new_session=True)
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {LAB_START_TIMEOUT} s: {self.log_tail()}")

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> list[str]:
        """Kernels down through the REST API, then the server: bounded. Returns problems."""
        problems = []
        if not self.proc:
            return problems
        if self.proc.poll() is None:
            try:
                for s in self.api("GET", "/api/sessions"):
                    self.api("DELETE", f"/api/sessions/{s['id']}", timeout=30)
                for k in self.api("GET", "/api/kernels"):
                    self.api("DELETE", f"/api/kernels/{k['id']}", timeout=30)
                left = self.api("GET", "/api/kernels")
                if left:
                    problems.append(f"{len(left)} kernel(s) still running after their shutdown")
            except (OSError, urllib.error.URLError, ValueError) as e:
                problems.append(f"shutting the kernels down through the REST API failed: {e}")
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                problems.append("JupyterLab did not stop within 20 s of SIGTERM: killed")
                self.proc.kill()
                self.proc.wait(10)
        if self.log:
            self.log.close()
        return problems


class Notebook:
    """One notebook: its .ipynb (for tags and sources) and its tab in the page."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self.nb = json.loads(path.read_text())
        self.cells = self.nb["cells"]
        self.code = [i for i, c in enumerate(self.cells) if c["cell_type"] == "code"]
        self.panel: str | None = None
        self.results: list[dict] = []
        self.opened_s: float | None = None

    def source(self, i: int) -> str:
        s = self.cells[i]["source"]
        return "".join(s) if isinstance(s, list) else s

    def tagged(self, tag: str) -> int | None:
        return next((i for i in self.code if tag in self.cells[i].get("metadata", {}).get("tags", [])), None)

    def next_code(self, i: int) -> int | None:
        return next((j for j in self.code if j > i), None)


class BrowserTest:
    def __init__(self, args, out: Path):
        self.args = args
        self.out = out
        self.lab_out = out / "lab"
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.secrets = passwords()
        self.table_seen = False
        self.image_seen = False
        self.runner = self.load_run_report()
        self.report: dict = {"interrupt": None, "restarts": None, "secrets_checked": len(self.secrets)}
        self.page = None
        self.kernel_display = args.kernel
        self.interrupted_cell: tuple[str, int] | None = None
        self.seq = 0

    # ----- bookkeeping -------------------------------------------------------------------------
    def fail(self, what: str) -> None:
        print(f"    FAIL {what}", flush=True)
        self.failures.append(what)

    def abort(self, what: str):
        """A failure after which this run cannot go on."""
        self.fail(what)
        raise TestFailed(what)

    def say(self, what: str) -> None:
        print(f"==> {what}", flush=True)

    def load_run_report(self) -> dict:
        path = self.out / "run-report.json"
        if not path.exists():
            return {}
        try:
            return {r["notebook"]: r for r in json.loads(path.read_text()) if isinstance(r, dict) and "notebook" in r}
        except (OSError, ValueError):
            return {}

    def runner_s(self, nb: Notebook, i: int) -> float | None:
        return self.runner.get(nb.name, {}).get("cell_s", {}).get(str(i))

    # ----- the page ----------------------------------------------------------------------------
    def js(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)

    def wait_js(self, expr: str, arg=None, timeout_s: float = 30, polling: int = 100) -> bool:
        from playwright.sync_api import TimeoutError as PWTimeout

        try:
            self.page.wait_for_function(expr, arg=arg, timeout=timeout_s * 1000, polling=polling)
            return True
        except PWTimeout:
            return False

    def unexpected_dialogs(self, where: str) -> bool:
        dialogs = self.js("() => __bt.dialogs()")
        if dialogs:
            self.fail(f"{where}: a dialog appeared: {' || '.join(d[:200] for d in dialogs)}")
            for _ in dialogs:  # dismiss, so that the run can go on
                self.page.keyboard.press("Escape")
            self.wait_js("() => __bt.dialogs().length === 0", timeout_s=5)
            return True
        return False

    def activate(self, nb: Notebook) -> None:
        self.unexpected_dialogs(f"{nb.name}: before bringing its tab to the front")  # a modal blocks the click
        tab = self.page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab[data-id="{nb.panel}"]')
        tab.click(timeout=15_000)
        if not self.wait_js("id => { const p = document.getElementById(id); return p && !p.classList.contains('lm-mod-hidden') && p.offsetParent !== null; }",
                            nb.panel, timeout_s=15):
            self.abort(f"{nb.name}: its tab did not come to the front")

    def wait_idle(self, nb: Notebook, timeout_s: float) -> bool:
        """The status bar (of the front notebook) shows `<kernel> | Idle`, or a dialog shows."""
        ok = self.wait_js(
            "k => { const s = __bt.kernelStatus(); return __bt.dialogs().length > 0 || (s && s.kernel === k && s.status === 'Idle'); }",
            self.kernel_display, timeout_s=timeout_s, polling=250)
        if self.unexpected_dialogs(f"{nb.name}: waiting for the kernel"):
            return False
        if not ok:
            self.fail(f"{nb.name}: the kernel was not '{self.kernel_display} | Idle' within {timeout_s:.0f} s "
                      f"(status bar: {self.js('() => __bt.kernelStatus()')})")
        return ok

    def cell_locator(self, nb: Notebook, i: int):
        return self.page.locator(f'[id="{nb.panel}"] .jp-Notebook .jp-Cell').nth(i)

    def select(self, nb: Notebook, i: int) -> None:
        """Cell i active, in command mode, with the keyboard focus in the notebook."""
        state = self.js("""([id, i]) => ({ active: __bt.active(id),
            command: !!document.querySelector(`[id="${id}"] .jp-Notebook.jp-mod-commandMode`),
            focus: !!document.getElementById(id)?.contains(document.activeElement) })""", [nb.panel, i])
        if state["active"] == i and state["command"] and state["focus"]:
            return
        cell = self.cell_locator(nb, i)
        cell.scroll_into_view_if_needed(timeout=10_000)
        cell.locator(".jp-InputPrompt").first.click(timeout=10_000)
        if not self.js(f"() => !!document.querySelector('[id=\"{nb.panel}\"] .jp-Notebook.jp-mod-commandMode')"):
            self.page.keyboard.press("Escape")
        if not self.wait_js("([id, i]) => __bt.active(id) === i && !!document.querySelector(`[id=\"${id}\"] .jp-Notebook.jp-mod-commandMode`)",
                            [nb.panel, i], timeout_s=10):
            self.abort(f"{nb.name}: could not select cell {i}")

    def press_run(self, nb: Notebook, i: int) -> str:
        """Shift+Enter on cell i (Ctrl+Enter on the last cell, which would add a cell). Returns the watch key."""
        self.select(nb, i)
        self.seq += 1
        key = f"{nb.name}:{i}:{self.seq}"
        if not self.js("([id, i, k]) => __bt.watch(id, i, k)", [nb.panel, i, key]):
            self.abort(f"{nb.name}: no cell {i} in the page")
        self.page.keyboard.press("Control+Enter" if i == len(nb.cells) - 1 else "Shift+Enter")
        return key

    def run_cell(self, nb: Notebook, i: int, timeout_s: float, label: str = "") -> dict:
        """Runs cell i as a learner does and waits for it; returns what happened (times in s)."""
        kind = nb.cells[i]["cell_type"]
        result = {"cell": i, "type": kind, "first_line": first_line(nb.source(i)), "label": label}
        if kind != "code":
            self.select(nb, i)
            self.page.keyboard.press("Shift+Enter")
            self.wait_js("([id, i]) => __bt.active(id) !== i", [nb.panel, i], timeout_s=10)
            return result
        key = self.press_run(nb, i)
        # The prompt turns [*] at once when the press reached the cell; if it did not, try once more.
        if not self.wait_js("k => __bt.watches[k].star !== null", key, timeout_s=10):
            self.notes.append(f"{nb.name} cell {i}: the first Shift+Enter did not start it; pressed again")
            key = self.press_run(nb, i)
            if not self.wait_js("k => __bt.watches[k].star !== null", key, timeout_s=10):
                self.fail(f"{nb.name} cell {i}: Shift+Enter did not start it (prompt {self.js('k => __bt.watches[k].last', key)})")
                result["stuck"] = True
                return result
        finished = self.wait_js("k => __bt.watches[k].end !== null", key, timeout_s=timeout_s, polling=100)
        st = self.js("k => __bt.watches[k]", key)
        info = self.js("([id, i]) => __bt.cellInfo(id, i)", [nb.panel, i])
        result["prompt"] = info["prompt"] if info else None
        if not finished:
            result["stuck"] = True
            result["browser_s"] = None
            self.fail(f"{nb.name} cell {i} `{result['first_line']}`: still [*] after {timeout_s:.0f} s (stuck)")
            return result
        result["browser_s"] = round((st["end"] - st["press"]) / 1000, 2)
        if not RESULT_PROMPT.match(st["endPrompt"] or ""):
            # [*] went back to [ ]: JupyterLab dropped the run (the kernel died or restarted).
            result["stuck"] = True
            result["dropped"] = st["endPrompt"]
            self.fail(f"{nb.name} cell {i} `{result['first_line']}`: no result, the prompt went from [*]: back to "
                      f"{st['endPrompt']} after {result['browser_s']} s (the kernel died or restarted)")
            self.unexpected_dialogs(f"{nb.name} cell {i}")
            return result
        result.update(self.judge(nb, i, info))
        return result

    def judge(self, nb: Notebook, i: int, info: dict | None) -> dict:
        """Error outputs, rendered table/image and secrets of cell i as it shows now."""
        problems = []
        if info is None:
            return {"problems": ["cell not in the page"], "error": True}
        for out in info["outputs"]:
            text = out["text"]
            if out["mime"] == "application/vnd.jupyter.stderr":
                problem = stderr_problem(text)
                if problem:
                    problems.append(problem[:300])
            if "panicked at" in text:
                problems.append("panic: " + next(l for l in text.splitlines() if "panicked at" in l).strip()[:200])
        if shows_secret(info["text"], self.secrets):
            problems.append("an output shows a service password")
        self.table_seen |= info["table"]
        self.image_seen |= info["image"]
        return {"error": bool(problems), "problems": list(dict.fromkeys(problems)), "table": info["table"], "image": info["image"]}

    def kernel_menu(self, item: str) -> None:
        self.page.keyboard.press("Escape")
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Kernel$")).click(timeout=10_000)
        entry = self.page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text=re.compile("^" + re.escape(item) + "$"))
        entry.first.click(timeout=10_000)

    def session_kernel(self, nb: Notebook) -> str | None:
        rel = nb.path.relative_to(self.args.notebook_dir).as_posix()
        for s in self.lab.api("GET", "/api/sessions"):
            if s.get("path") == rel and s.get("kernel"):
                return s["kernel"]["name"]
        return None

    # ----- the steps ---------------------------------------------------------------------------
    def open_notebook(self, nb: Notebook) -> bool:
        self.say(f"opening {nb.name}")
        before = self.js("() => Array.from(document.querySelectorAll('.jp-NotebookPanel')).map(p => p.id)")
        started = time.monotonic()
        item = self.page.locator(".jp-DirListing-item").filter(
            has=self.page.locator(".jp-DirListing-itemText", has_text=re.compile("^" + re.escape(nb.name) + "$")))
        item.first.dblclick(timeout=30_000)
        if not self.wait_js("before => Array.from(document.querySelectorAll('.jp-NotebookPanel')).some(p => !before.includes(p.id))",
                            before, timeout_s=60):
            self.fail(f"{nb.name}: no notebook tab opened within 60 s")
            return False
        nb.panel = self.js("before => Array.from(document.querySelectorAll('.jp-NotebookPanel')).find(p => !before.includes(p.id)).id", before)
        if not self.wait_idle(nb, KERNEL_IDLE_TIMEOUT):
            return False
        nb.opened_s = round(time.monotonic() - started, 1)
        kernel = self.session_kernel(nb)
        if kernel != self.args.kernel:
            self.fail(f"{nb.name}: its kernel is {kernel!r}, expected {self.args.kernel!r}")
            return False
        shown = self.js("id => __bt.cells(id).length", nb.panel)
        if shown != len(nb.cells):
            self.fail(f"{nb.name}: the page shows {shown} cells, the .ipynb has {len(nb.cells)}")
            return False
        print(f"    kernel {kernel} idle {nb.opened_s} s after the double click", flush=True)
        return True

    def run_lesson(self, nb: Notebook) -> None:
        html, image = nb.tagged("expect-html"), nb.tagged("expect-image")
        if not nb.code or html is None or image is None:
            self.fail(f"{nb.name}: needs a code cell, a cell tagged expect-html and one tagged expect-image")
            return
        last = max(html, image)
        self.say(f"{nb.name}: cells {nb.code[0]}..{last} (first table cell {html}, first figure cell {image})")
        self.activate(nb)
        if not self.wait_idle(nb, 60):
            return
        for i in range(nb.code[0], last + 1):
            self.unexpected_dialogs(f"{nb.name} before cell {i}")
            r = self.run_cell(nb, i, FIRST_CELL_TIMEOUT if i == nb.code[0] else CELL_TIMEOUT)
            nb.results.append(r)
            if r["type"] == "code":
                shown = f"{r['browser_s']} s" if r.get("browser_s") is not None else "STUCK"
                print(f"    cell {i:3} {shown:>9}  {r['first_line']}", flush=True)
                for p in r.get("problems", []):
                    self.fail(f"{nb.name} cell {i}: {p}")
            if r.get("stuck"):
                self.fail(f"{nb.name}: stopped at the stuck cell {i}; the cells after it were not run")
                return
        self.disk_after(nb.name)
        if html is not None and not any(r.get("table") for r in nb.results if r["cell"] == html):
            self.fail(f"{nb.name} cell {html}: tagged expect-html but no rendered table")
        if image is not None and not any(r.get("image") for r in nb.results if r["cell"] == image):
            self.fail(f"{nb.name} cell {image}: tagged expect-image but no rendered image")

    def disk_after(self, what: str) -> None:
        """The kernel's build cache now: its size (hard links counted once, as `du` does), and
        how many kernels have a directory in it (scripts/kernel/builds.py)."""
        if self.args.kernel != "rust":
            return
        sys.path.insert(0, str(ROOT / "scripts" / "kernel"))
        import builds

        p = builds.paths()
        kernels = [n for n in os.listdir(p["kernels"]) if n.endswith(".lock")] if os.path.isdir(p["kernels"]) else []
        own = [builds.own_bytes(os.path.join(p["kernels"], k[:-5])) / 2**20 for k in kernels]
        row = {"after": what, "open_kernels": len(self.lab.api("GET", "/api/kernels")), "kernel_dirs": len(kernels),
               "cache_gib": round(builds.disk_usage(p["cache"]) / 2**30, 2),
               "largest_kernel_own_mib": round(max(own), 1) if own else None}
        self.report.setdefault("disk", []).append(row)
        print(f"    disk: {row['cache_gib']} GiB in {p['cache']} with {row['open_kernels']} kernel(s) open; "
              f"the largest kernel's own files {row['largest_kernel_own_mib']} MiB", flush=True)

    def pick_long_cell(self, nb: Notebook) -> int | None:
        if self.args.interrupt_cell is not None:
            return self.args.interrupt_cell
        first = nb.code[0]
        timed = self.runner.get(nb.name, {}).get("cell_s", {})
        for i in nb.code[1:]:
            if timed.get(str(i), 0) >= LONG_CELL_S:
                return i
        known = next((v for k, v in KNOWN_LONG_CELLS.items() if nb.name.startswith(k)), None)
        found = next((i for i in nb.code if known and known in nb.source(i)), None)
        return found if found is not None else (nb.code[-1] if len(nb.code) > 1 and nb.code[-1] != first else None)

    def interrupt(self, nb: Notebook) -> dict:
        """Runs up to a long cell, stops it with the toolbar button, then the notebook must work."""
        res: dict = {"notebook": nb.name}
        long_cell = self.pick_long_cell(nb)
        first = nb.code[0]
        if long_cell is None:
            self.fail(f"{nb.name}: no cell to interrupt")
            return res
        res.update(cell=long_cell, first_line=first_line(nb.source(long_cell)), runner_s=self.runner_s(nb, long_cell))
        self.say(f"{nb.name}: interrupting cell {long_cell} `{res['first_line']}` "
                 f"(runner: {res['runner_s'] if res['runner_s'] is not None else '?'} s)")
        self.activate(nb)
        if not self.wait_idle(nb, 60):
            return res
        before = []
        for i in [c for c in nb.code if c < long_cell]:
            r = self.run_cell(nb, i, FIRST_CELL_TIMEOUT if i == first else CELL_TIMEOUT, label="before the interrupt")
            before.append(r)
            nb.results.append(r)
            for p in r.get("problems", []):
                self.fail(f"{nb.name} cell {i} (before the interrupt): {p}")
            if r.get("stuck"):
                res["cells_before"] = before
                return res
        res["cells_before"] = [{"cell": r["cell"], "browser_s": r.get("browser_s")} for r in before]
        key = self.press_run(nb, long_cell)
        if not self.wait_js("k => __bt.watches[k].star !== null", key, timeout_s=10):
            self.fail(f"{nb.name} cell {long_cell}: did not start")
            return res
        time.sleep(INTERRUPT_AFTER)
        st = self.js("k => __bt.watches[k]", key)
        res["running_at_interrupt"] = st["end"] is None
        if not res["running_at_interrupt"]:
            self.fail(f"{nb.name} cell {long_cell}: finished within {INTERRUPT_AFTER} s, nothing to interrupt (pick a longer one: --interrupt-cell)")
        self.interrupted_cell = (nb.name, long_cell)
        button = self.page.locator(f'[id="{nb.panel}"] .jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]')
        button.first.click(timeout=10_000)
        clicked = self.js("() => __bt.lastClick")
        stopped = self.wait_js("k => __bt.watches[k].end !== null", key, timeout_s=INTERRUPT_TIMEOUT)
        st = self.js("k => __bt.watches[k]", key)
        time.sleep(1.0)  # what the kernel prints about the interruption can come just after the reply
        info = self.js("([id, i]) => __bt.cellInfo(id, i)", [nb.panel, long_cell]) or {}
        res["stopped"] = stopped
        res["stop_s"] = round((st["end"] - clicked) / 1000, 2) if stopped else None
        res["prompt_after"] = info.get("prompt")
        res["printed"] = "\n".join(o["text"].strip() for o in info.get("outputs", []))[-3000:]
        if not stopped:
            self.fail(f"{nb.name} cell {long_cell}: still [*] {INTERRUPT_TIMEOUT} s after the stop button")
            return res
        print(f"    stopped {res['stop_s']} s after the click; prompt {res['prompt_after']}; it shows: "
              f"{res['printed'][-300:]!r}", flush=True)
        # evcxr with the project's fix (scripts/kernel/evcxr_install.py) says what was lost
        res["says_what_was_lost"] = self.args.kernel != "rust" or (
            "every variable of earlier cells is gone" in res["printed"] and "first cell" in res["printed"])
        if not res["says_what_was_lost"]:
            self.fail(f"{nb.name} cell {long_cell}: the interrupted cell does not say what was lost and what to run again")
        if not self.wait_idle(nb, 60):
            return res
        after = []
        for i in [first, nb.next_code(first)]:
            if i is None:
                continue
            r = self.run_cell(nb, i, FIRST_CELL_TIMEOUT if i == first else CELL_TIMEOUT, label="after the interrupt")
            nb.results.append(r)
            shown = self.js("([id, i]) => __bt.cellInfo(id, i)", [nb.panel, i]) or {}
            after.append({"cell": i, "browser_s": r.get("browser_s"), "stuck": bool(r.get("stuck")), "problems": r.get("problems", []),
                          "printed": "\n".join(o["text"].strip() for o in shown.get("outputs", []))[:1000]})
            print(f"    after: cell {i} {r.get('browser_s')} s{' STUCK' if r.get('stuck') else ''}", flush=True)
            for p in r.get("problems", []):
                self.fail(f"{nb.name} cell {i} (after the interrupt): {p}")
            if r.get("stuck"):
                break
        res["cells_after"] = after
        res["usable_after"] = len(after) == 2 and not any(a["stuck"] or a["problems"] for a in after)
        return res

    def restarts(self, nb: Notebook, n: int) -> dict:
        """Kernel → Restart Kernel…, confirm, Shift+Enter on the first cell at once; n times.

        A hang: no result within RESTART_TIMEOUT. A drop: the prompt went from [*] back to [ ]
        without a result (the kernel died and the server restarted it). Both fail the test."""
        res: dict = {"notebook": nb.name, "runs": [], "hangs": 0, "dropped": 0}
        first = nb.code[0]
        self.say(f"{nb.name}: {n} × restart the kernel, then Shift+Enter on cell {first}")
        for k in range(n):
            run: dict = {"restart": k + 1, "first_result_s": None}
            res["runs"].append(run)
            try:
                self.activate(nb)
                if not self.wait_idle(nb, RESTART_TIMEOUT):
                    run["error"] = "the kernel was not idle before the restart"
                    continue
                self.kernel_menu("Restart Kernel…")
                if not self.wait_js("() => __bt.dialogs().length > 0", timeout_s=10):
                    self.fail(f"{nb.name}: Restart Kernel… showed no confirmation")
                    run["error"] = "no confirmation dialog"
                    continue
                self.page.locator(".jp-Dialog .jp-mod-accept").click(timeout=10_000)
                confirmed = self.js("() => __bt.lastClick")
                self.wait_js("() => __bt.dialogs().length === 0", timeout_s=10)
                key = self.press_run(nb, first)
                finished = self.wait_js("k => __bt.watches[k].end !== null", key, timeout_s=RESTART_TIMEOUT)
                st = self.js("k => __bt.watches[k]", key)
                if finished and RESULT_PROMPT.match(st["endPrompt"] or ""):
                    info = self.js("([id, i]) => __bt.cellInfo(id, i)", [nb.panel, first])
                    judged = self.judge(nb, first, info)
                    run.update(first_result_s=round((st["end"] - confirmed) / 1000, 2), prompt=st["endPrompt"],
                               problems=judged["problems"])
                    for p in judged["problems"]:
                        self.fail(f"{nb.name} cell {first} after restart {k + 1}: {p}")
                elif finished:
                    res["dropped"] += 1
                    run.update(dropped_after_s=round((st["end"] - confirmed) / 1000, 2), prompt=st["endPrompt"])
                    self.fail(f"{nb.name}: restart {k + 1}: cell {first} got no result: its prompt went back to "
                              f"{st['endPrompt']} {run['dropped_after_s']} s after the confirmation (the kernel died)")
                else:
                    res["hangs"] += 1
                    run.update(hang=True, prompt=st["last"], started=st["star"] is not None)
                    self.fail(f"{nb.name}: restart {k + 1}: cell {first} gave no result within {RESTART_TIMEOUT} s "
                              f"(prompt {st['last']}{'' if st['star'] is not None else ', never started'})")
                # A kernel that dies just after answering shows a dialog a moment later.
                if self.wait_js("() => __bt.dialogs().length > 0", timeout_s=2):
                    run["dialog"] = self.js("() => __bt.dialogs()")
                    self.unexpected_dialogs(f"{nb.name}: after restart {k + 1}")
            except TestFailed as e:
                run["error"] = str(e)
            finally:
                print(f"    restart {k + 1}: first result {run['first_result_s']} s after the confirmation"
                      f"{'' if run['first_result_s'] is not None else ' — ' + str(run.get('error') or run.get('prompt'))}", flush=True)
        res["first_result_s"] = [r["first_result_s"] for r in res["runs"]]
        return res

    def final_checks(self, notebooks: list[Notebook]) -> None:
        """What shows now, in every tab: late stderr, errors, table, image, passwords."""
        self.say("final checks: outputs now on the page, rendered table and image, passwords")
        for nb in notebooks:
            if not nb.panel:
                continue
            for r in nb.results:
                if r["type"] != "code" or r.get("stuck"):
                    continue
                if self.interrupted_cell == (nb.name, r["cell"]):
                    continue
                info = self.js("([id, i]) => __bt.cellInfo(id, i)", [nb.panel, r["cell"]])
                judged = self.judge(nb, r["cell"], info)
                late = [p for p in judged["problems"] if p not in r.get("problems", [])]
                for p in late:
                    self.fail(f"{nb.name} cell {r['cell']} (shown after it finished): {p}")
                r["problems"] = r.get("problems", []) + late
                r["error"] = bool(r["problems"])
        if not self.table_seen:
            self.fail("no rendered HTML table (.jp-RenderedHTMLCommon table) in any output")
        if not self.image_seen:
            self.fail("no rendered image (.jp-RenderedImage img or an <svg>) in any output")
        text = self.js("() => document.body.textContent + ' ' + document.title")
        if shows_secret(text, self.secrets):
            self.fail("the page shows the password of a configured service URL")

    def screenshots(self, notebooks: list[Notebook]) -> None:
        self.say(f"screenshots into {self.lab_out}")
        left = self.page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if left.count():
            left.first.click(timeout=5_000)  # fold the file browser: more room for the notebook
        for nb in notebooks:
            if not nb.panel:
                continue
            try:
                self.activate(nb)
                ran = [r["cell"] for r in nb.results] or [0]
                height = self.js("""([id, i]) => { const c = __bt.cells(id)[i], n = document.getElementById(id);
                    const sc = n.querySelector('.jp-WindowedPanel-outer') || n;
                    return c.getBoundingClientRect().bottom - sc.getBoundingClientRect().top + sc.scrollTop; }""",
                                 [nb.panel, max(ran)])
                tall = int(min(MAX_SCREENSHOT_HEIGHT, max(VIEWPORT["height"], height + 250)))
                self.page.set_viewport_size({"width": VIEWPORT["width"], "height": tall})
                self.page.wait_for_timeout(800)
                self.js("""id => { const n = document.getElementById(id); const sc = n.querySelector('.jp-WindowedPanel-outer');
                    if (sc) sc.scrollTop = 0; }""", nb.panel)
                self.page.wait_for_timeout(400)
                path = self.lab_out / f"{nb.path.stem}.png"
                self.page.screenshot(path=str(path), timeout=60_000)
                print(f"    {path.relative_to(self.out.parent) if path.is_relative_to(self.out.parent) else path}", flush=True)
            finally:
                self.page.set_viewport_size(VIEWPORT)

    # ----- the whole run -----------------------------------------------------------------------
    def run(self) -> int:
        from playwright.sync_api import Error as PWError
        from playwright.sync_api import sync_playwright

        args = self.args
        self.lab_out.mkdir(parents=True, exist_ok=True)
        names = [p.strip() for p in args.notebooks.split(",") if p.strip()]
        paths = sorted(args.notebook_dir.glob("*.ipynb"))

        def find(prefix: str) -> Path | None:
            return next((p for p in paths if p.name.startswith(prefix)), None)

        chosen = [find(n) for n in names]
        if None in chosen or len(set(chosen)) < 3:
            print(f"--notebooks must name at least three notebooks of {args.notebook_dir} (got {names})", file=sys.stderr)
            return 2
        interrupt_path = find(args.interrupt) if args.interrupt else None
        if args.interrupt and interrupt_path is None:
            print(f"--interrupt {args.interrupt}: no such notebook", file=sys.stderr)
            return 2
        notebooks = [Notebook(p) for p in chosen]
        interrupt_nb = next((nb for nb in notebooks if nb.path == interrupt_path), None)
        if interrupt_path and interrupt_nb is None:
            interrupt_nb = Notebook(interrupt_path)
        restart_nb = next(nb for nb in notebooks if nb.name.startswith(args.restart_notebook)) \
            if any(nb.name.startswith(args.restart_notebook) for nb in notebooks) else notebooks[0]
        every = notebooks + ([interrupt_nb] if interrupt_nb and interrupt_nb not in notebooks else [])
        if not Path(CHROMIUM).exists():
            print(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or M8_CHROMIUM=/path)", file=sys.stderr)
            return 2
        if args.headed_screenshots and not os.environ.get("DISPLAY"):
            print("--headed-screenshots needs a display: run it under xvfb-run, or set DISPLAY", file=sys.stderr)
            return 2
        os.environ.setdefault("M8_OUT_DIR", str(self.out))

        git_before = self.git_status()
        hashes = {nb.path: sha256(nb.path) for nb in every}
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix="m8-browser-test-"))
        self.lab = Lab(args.notebook_dir, self.lab_out, tmp)
        pw = browser = None
        try:
            self.say(f"JupyterLab on {args.notebook_dir} (log: {self.lab.log_path})")
            self.lab.start()
            self.kernel_display = self.lab.api("GET", "/api/kernelspecs")["kernelspecs"].get(args.kernel, {}).get(
                "spec", {}).get("display_name", args.kernel)
            self.report["jupyter_server"] = self.lab.api("GET", "/api").get("version")
            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=not args.headed_screenshots,
                                         args=CHROMIUM_ARGS, timeout=60_000)
            self.report["chromium"] = browser.version
            context = browser.new_context(viewport=VIEWPORT)
            context.add_init_script(PAGE_HELPERS)
            self.page = context.new_page()
            self.page.set_default_timeout(30_000)
            self.page.on("dialog", lambda d: d.dismiss())  # a beforeunload or alert never blocks
            self.say(f"Chromium {browser.version}: {self.lab.url}/lab")
            self.page.goto(f"{self.lab.url}/lab?token={self.lab.token}", wait_until="domcontentloaded", timeout=90_000)
            self.page.wait_for_selector(".jp-DirListing-item", timeout=90_000)
            self.unexpected_dialogs("JupyterLab start")

            for nb in notebooks:
                if not self.open_notebook(nb):
                    raise TestFailed("open")
            for nb in notebooks:
                self.run_lesson(nb)
            if interrupt_nb:
                if interrupt_nb not in notebooks:  # one more open notebook: every kernel stays
                    if not self.open_notebook(interrupt_nb):
                        raise TestFailed("open")
                self.report["interrupt"] = self.interrupt(interrupt_nb)
            if args.restarts > 0:
                self.report["restarts"] = self.restarts(restart_nb, args.restarts)
            self.final_checks(every)
            self.screenshots(every)
        except (TestFailed, PWError, RuntimeError, OSError, urllib.error.URLError, KeyError, TypeError, ValueError) as e:
            if not isinstance(e, TestFailed):
                self.fail(f"the test itself broke: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            if self.page:  # what the page showed when the run could not go on
                try:
                    self.page.screenshot(path=str(self.lab_out / "failure.png"), timeout=20_000)
                    self.notes.append(f"the page when the run stopped: {self.lab_out / 'failure.png'}")
                except PWError:
                    pass
        finally:
            if browser:
                try:
                    browser.close()
                except PWError:
                    pass
            if pw:
                pw.stop()
            for p in self.lab.stop():
                self.fail(p)
            shutil.rmtree(tmp, ignore_errors=True)
        self.check_unchanged(every, git_before, hashes)
        self.report["total_s"] = round(time.monotonic() - started, 1)
        self.write_report(every)
        return 1 if self.failures else 0

    def git_status(self) -> str | None:
        try:
            rel = self.args.notebook_dir.relative_to(ROOT)
        except ValueError:
            return None
        r = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", f"{rel.as_posix()}/"],
                           capture_output=True, text=True, timeout=60)
        return r.stdout if r.returncode == 0 else None

    def check_unchanged(self, notebooks: list[Notebook], git_before: str | None, hashes: dict) -> None:
        changed = [p.name for p, h in hashes.items() if sha256(p) != h]
        if changed:
            self.fail(f"notebooks changed on disk during the test: {', '.join(changed)}")
        after = self.git_status()
        if git_before is not None and after != git_before:
            self.fail(f"`git status --porcelain notebooks/` changed during the test: {after.strip() or '(clean)'}"
                      f" (before: {git_before.strip() or '(clean)'})")
        try:
            log = self.lab.log_path.read_text(errors="replace")
        except OSError:
            log = ""
        if SAVE_REFUSED in log:
            self.fail("the page tried to save a notebook (refused by the server; see jupyterlab.log)")
        # The server restarts a kernel that died by itself (not one a learner restarted).
        deaths = log.count("AsyncIOLoopKernelRestarter: restarting kernel")
        self.report["kernel_deaths"] = deaths
        if deaths:
            self.fail(f"a kernel died {deaths} time(s) and the server restarted it (jupyterlab.log: AsyncIOLoopKernelRestarter)")
        self.report["notebooks_unchanged"] = not changed and (git_before is None or after == git_before)

    def write_report(self, notebooks: list[Notebook]) -> None:
        rows = []
        for nb in notebooks:
            cells = []
            for r in nb.results:
                if r["type"] != "code":
                    continue
                runner = self.runner_s(nb, r["cell"])
                b = r.get("browser_s")
                cells.append({
                    "cell": r["cell"], "first_line": r["first_line"], "name": cell_name(SimpleNamespace(source=nb.source(r["cell"]))),
                    "when": r.get("label") or None, "browser_s": b, "runner_s": runner,
                    "ratio": round(b / runner, 2) if b is not None and runner else None,
                    "stuck": bool(r.get("stuck")), "error": bool(r.get("error")), "problems": r.get("problems", []),
                    "table": r.get("table", False), "image": r.get("image", False),
                })
            first = cells[0] if cells else {}
            plain = [c for c in cells if c["cell"] != nb.code[0] and c["when"] != "after the interrupt"]
            later = [c["browser_s"] for c in plain if c["browser_s"] is not None]
            later_runner = [c["runner_s"] for c in plain if c["runner_s"] is not None]
            rows.append({
                "notebook": nb.name, "kernel_idle_after_open_s": nb.opened_s,
                "first_cell_s": first.get("browser_s"), "runner_first_cell_s": first.get("runner_s"),
                "median_later_cell_s": median(later), "runner_median_later_cell_s": median(later_runner),
                "cells": cells,
            })
        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "run_report": str(self.out / "run-report.json") if self.runner else None,
            "chromium": self.report.get("chromium"), "jupyter_server": self.report.get("jupyter_server"),
            "kernel": self.args.kernel,
            "notebooks": rows,
            "interrupt": self.report.get("interrupt"),
            "restarts": self.report.get("restarts"),
            "disk": self.report.get("disk"),
            "checks": {
                "html_table_seen": self.table_seen, "image_seen": self.image_seen,
                "passwords_checked": self.report.get("secrets_checked", 0),
                "notebooks_unchanged": self.report.get("notebooks_unchanged"),
                "kernel_deaths": self.report.get("kernel_deaths"),
            },
            "total_s": self.report.get("total_s"),
            "notes": self.notes,
            "failures": self.failures,
            "ok": not self.failures,
        }
        path = self.out / "lab-report.json"
        path.write_text(json.dumps(report, indent=2))
        self.print_table(report)
        print(f"\nreport: {path}; screenshots and JupyterLab's log: {self.lab_out}")

    @staticmethod
    def print_table(report: dict) -> None:
        def s(v):
            return "—" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

        print("\n| notebook | cell | first line | browser s | runner s | ratio | result |")
        print("|---|---:|---|---:|---:|---:|---|")
        for nb in report["notebooks"]:
            for c in nb["cells"]:
                result = "STUCK" if c["stuck"] else "error" if c["error"] else "ok"
                if c["when"]:
                    result += f" ({c['when']})"
                line = c["first_line"].replace("|", "\\|")[:48]
                print(f"| {nb['notebook']} | {c['cell']} | `{line}` | {s(c['browser_s'])} | {s(c['runner_s'])} | {s(c['ratio'])} | {result} |")
        print()
        for nb in report["notebooks"]:
            print(f"{nb['notebook']}: first cell {s(nb['first_cell_s'])} s (runner {s(nb['runner_first_cell_s'])}), "
                  f"later cells median {s(nb['median_later_cell_s'])} s (runner {s(nb['runner_median_later_cell_s'])})")
        for d in report.get("disk") or []:
            print(f"disk after {d['after']}: {d['cache_gib']} GiB with {d['open_kernels']} kernel(s) open "
                  f"(the largest kernel's own files: {d['largest_kernel_own_mib']} MiB)")
        r = report.get("restarts")
        if r:
            print(f"restarts of {r['notebook']}: restart → first result {r['first_result_s']} s, "
                  f"hangs {r['hangs']}, runs dropped (kernel died) {r['dropped']}")
        i = report.get("interrupt")
        if i and "cell" in i:
            print(f"interrupt of {i['notebook']} cell {i['cell']}: stopped {i.get('stopped')} after {s(i.get('stop_s'))} s, "
                  f"usable after: {i.get('usable_after')}; it printed: {(i.get('printed') or '(nothing)')[-400:]!r}")
        if report["failures"]:
            print(f"\nFAILED ({len(report['failures'])}):")
            for f in report["failures"]:
                print(f"  - {f}")
        else:
            print("\nbrowser test: every check passed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("M8_OUT_DIR", ROOT / "out")),
                    help="where run-report.json is read and lab-report.json, lab/ are written (default out/)")
    ap.add_argument("--notebooks", default="00,01,03,05", help="comma-separated name prefixes, at least three (default 00,01,03,05)")
    ap.add_argument("--restarts", type=int, default=3, help="how many times to restart a kernel (default 3; 0: none)")
    ap.add_argument("--restart-notebook", default="", help="name prefix of the notebook to restart (default: the first)")
    ap.add_argument("--interrupt", default="04", help="name prefix of the notebook to interrupt a long cell in (default 04; '' for none)")
    ap.add_argument("--interrupt-cell", type=int, help="index of the cell to interrupt (default: from run-report.json)")
    ap.add_argument("--headed-screenshots", action="store_true",
                    help="run Chromium with a visible window (needs $DISPLAY, e.g. under xvfb-run)")
    ap.add_argument("--notebook-dir", type=Path, default=ROOT / "notebooks", help="for developing this test: another folder")
    ap.add_argument("--kernel", default="rust", help="the kernel the notebooks must start (default rust)")
    args = ap.parse_args()
    args.notebook_dir = args.notebook_dir.resolve()
    args.restart_notebook = args.restart_notebook or args.notebooks.split(",")[0].strip()
    try:
        import playwright  # noqa: F401
    except ImportError:
        print(f"playwright is not installed: {sys.executable} -m pip install -r scripts/requirements.txt", file=sys.stderr)
        return 2
    # SIGTERM (a timeout around the test) still stops JupyterLab, its kernels and the browser.
    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    return BrowserTest(args, args.out.resolve()).run()


if __name__ == "__main__":
    sys.exit(main())
