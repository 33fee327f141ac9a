#!/usr/bin/env python3
"""Execute the notebooks headless with the `rust` (evcxr) kernel and write everything to out/.

    scripts/run_notebooks.py                     # every notebooks/*.ipynb, in name order
    scripts/run_notebooks.py notebooks/00_environment.ipynb
    scripts/run_notebooks.py --self-test         # prove the runner fails on bad notebooks

For each notebook it writes out/notebooks/<name>.ipynb (executed), out/html/<name>.html and
out/slides/<name>.slides.html; figures are written by the helpers into out/figures as PNG and SVG.
A notebook whose metadata lists variants (`"module8": {"variants": ["postgres"]}`) runs once
more per variant with that variant's environment (postgres: DATABASE_URL = $TEST_POSTGRES_URL,
default the local server), written as <name>.<variant>.ipynb/.html.

A notebook FAILS when any cell
  - has an `error` output (compile error, or an error the kernel reports),
  - prints a panic ("panicked at") or any stderr text that is not cargo's progress
    (evcxr catches panics and nbconvert then exits 0; we do not),
  - runs past its time limit (the first code cell: --first-cell-timeout, others: --cell-timeout),
  - lacks an output its metadata promises: a cell tagged `expect-html`, `expect-image` or
    `expect-output` must produce text/html, an image, or any output,
  - shows the password of a configured service URL,
  - shows a stray `()` (a cell that ends in a loop or block without `;`).

Compiled dependencies are shared between notebooks and runs: the kernel is
scripts/kernel/start.py, which gives evcxr a clone of the shared build under $M8_CACHE (by default
~/.cache/module8). Set EVCXR_TMPDIR to a fresh directory to measure a kernel without it.

It measures every cell (wall time from execute request to reply) and prints, per notebook,
the time from kernel start to the first result, the median, p95 and slowest of the other cells,
and the three slowest cells by name; out/run-report.json keeps them with every cell's time.

    scripts/run_notebooks.py --list              # the notebooks (and variants) it would run
    scripts/run_notebooks.py --only 03           # the notebooks whose name contains "03"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARGO_PROGRESS = re.compile(
    r"^\s*(Compiling|Finished|Blocking waiting|Downloaded|Downloading|Updating|Locking|Adding|Fresh|Checking|Building|Running)\b"
)
SECRET_VARS = ("DATABASE_URL", "MONGODB_URI", "REDIS_URL", "AMQP_ADDR", "TEST_POSTGRES_URL")
BASE64_IMAGES = ("image/png", "image/jpeg", "image/gif")


# A cell tagged `stable` prints what must not depend on which notebooks ran before it or how
# often: counts, verdicts, which-is-faster words. Its text (HTML without tags) is compared
# between the run and a second pass in another order (--second-pass), with the measured
# quantities masked: a number followed by a unit of time, of rate or of size, and a ratio (3.2×).
STABLE_TAG = "stable"
MEASURED = re.compile(
    r"[-+]?\d[\d,]*(?:\.\d+)?\s*(?:×|(?:ns|µs|us|ms|s|min|msg/s|messages/s|/s|per second|B|KB|KiB|MB|MiB|GB|GiB)(?![\w/]))"
)


def stable_text(cell) -> str:
    """What a `stable` cell showed, in words: HTML without its tags, measured quantities as `#`."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        data = out.get("data", {})
        if "text/html" in data:
            html = data["text/html"]
            html = html if isinstance(html, str) else "".join(html)
            html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
            parts.append(re.sub(r"<[^>]+>", " ", html))
        elif "text/plain" in data:
            parts.append(data["text/plain"] if isinstance(data["text/plain"], str) else "".join(data["text/plain"]))
        if out.get("output_type") == "error":
            parts.append(out.get("evalue", ""))
    return " ".join(MEASURED.sub("#", " ".join(parts)).split())


class NotebookFailed(Exception):
    pass


def passwords() -> list[str]:
    """Passwords of the configured service URLs, as written and percent-decoded, to make sure no
    output shows them (longest first, so scrubbing takes a whole password before a part of it)."""
    from urllib.parse import unquote

    found = set()
    for var in SECRET_VARS:
        url = os.environ.get(var, "")
        m = re.match(r"^[a-z+]+://([^:/@]*):(.+)@[^@]*$", url)
        # A password equal to its user name (RabbitMQ's guest:guest) is shown by every masked URL
        # and protects nothing: it is not counted.
        if m and unquote(m.group(2)) != unquote(m.group(1)):
            found.update(p for p in (m.group(2), unquote(m.group(2))) if len(p) >= 3)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every configured password replaced by `***`."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def scrub_outputs(nb, secrets: list[str]) -> None:
    """Replaces every configured password in every output of `nb` with `***`, before anything is
    written (check_cell has already failed the cells that showed one)."""

    def clean(value):
        if isinstance(value, str):
            return scrub(value, secrets)
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):  # base64 pictures are left as they are: they show no text
            return {k: v if k in BASE64_IMAGES else clean(v) for k, v in value.items()}
        return value

    if secrets:
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                cleaned = clean(dict(out))
                out.clear()
                out.update(cleaned)


def output_text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", [])) + output.get("evalue", "")
    data = output.get("data", {})
    return "\n".join(v if isinstance(v, str) else "" for k, v in data.items() if k not in BASE64_IMAGES)


def stderr_problem(text: str) -> str | None:
    bad = [l for l in text.splitlines() if l.strip() and not CARGO_PROGRESS.match(l)]
    return "stderr: " + " | ".join(bad[:5]) if bad else None


class IopubSpy:
    """Sees every iopub message, including stderr that arrives after a cell went idle.

    evcxr prints the error of a cell's `?` on the child's stderr, which can reach Jupyter after
    the cell's reply: nbclient then drops it and the run looks clean. The spy keeps those.
    """

    def __init__(self, client):
        from jupyter_core.utils import ensure_async

        self.client = client
        self.stderr_by_parent: dict[str, list[str]] = {}
        self.cell_by_msg_id: dict[str, int] = {}
        self.current_cell = None
        channel = client.kc.iopub_channel
        original_get = channel.get_msg
        original_execute = client.kc.execute

        async def get_msg(*args, **kwargs):
            msg = await ensure_async(original_get(*args, **kwargs))
            if msg.get("msg_type") == "stream" and msg.get("content", {}).get("name") == "stderr":
                parent = msg.get("parent_header", {}).get("msg_id", "")
                self.stderr_by_parent.setdefault(parent, []).append(msg["content"].get("text", ""))
            return msg

        def execute(*args, **kwargs):
            msg_id = original_execute(*args, **kwargs)
            self.cell_by_msg_id[msg_id] = self.current_cell
            return msg_id

        channel.get_msg = get_msg
        client.kc.execute = execute
        self.get_msg = get_msg

    def drain(self, seconds: float) -> None:
        """Reads what is still in flight for up to `seconds`."""
        import queue

        from jupyter_core.utils import run_sync

        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                run_sync(self.get_msg)(timeout=0.2)
            except queue.Empty:
                pass

    def problems(self) -> list[str]:
        found = []
        for parent, texts in self.stderr_by_parent.items():
            problem = stderr_problem("".join(texts))
            if problem:
                cell = self.cell_by_msg_id.get(parent)
                found.append(f"cell {cell if cell is not None else '?'}: {problem}")
        return found


def check_cell(index: int, cell, secrets: list[str]) -> list[str]:
    """Reasons why this executed cell fails the run (empty when it is fine)."""
    problems = []
    outputs = cell.get("outputs", [])
    for out in outputs:
        kind = out.get("output_type")
        if kind == "error":
            problems.append(f"error output: {out.get('ename', '')}: {out.get('evalue', '')}".strip())
        text = output_text(out)
        if "panicked at" in text:
            problems.append("panic: " + next(l for l in text.splitlines() if "panicked at" in l).strip())
        if any(secret in text for secret in secrets):
            problems.append("an output shows a service password (scrubbed from what the runner writes)")
        # a cell whose last line is a loop or a block shows its value, `()`: end it with `;`
        if out.get("data", {}).get("text/plain", "").strip() == "()":
            problems.append("shows a stray `()` (end the cell's last statement with `;`)")
    tags = set(cell.get("metadata", {}).get("tags", []))
    mimes = {m for out in outputs for m in out.get("data", {})}
    if "expect-html" in tags and "text/html" not in mimes:
        problems.append("tagged expect-html but showed no HTML")
    if "expect-image" in tags and not any(m.startswith("image/") for m in mimes):
        problems.append("tagged expect-image but showed no image")
    if "expect-output" in tags and not outputs:
        problems.append("tagged expect-output but printed nothing")
    return [f"cell {index}: {p}" for p in dict.fromkeys(problems)]


# Extra runs a notebook asks for in its metadata (`"module8": {"variants": ["postgres"]}`):
# the same notebook again with these environment variables set for the kernel.
def test_postgres_url() -> str:
    """The tests' PostgreSQL, by the rule of scripts/common.sh (`test_postgres_url`, the same as
    the crate's `config::test_postgres_url`): asked of the script, not written a third time."""
    import subprocess

    out = subprocess.run(["bash", "-c", 'source "$0" && test_postgres_url', str(ROOT / "scripts" / "common.sh")],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


VARIANTS = {
    "postgres": lambda: {"DATABASE_URL": test_postgres_url()},
}


def variants_of(path: Path) -> list[str]:
    import nbformat

    wanted = nbformat.read(path, as_version=4).metadata.get("module8", {}).get("variants", [])
    unknown = [v for v in wanted if v not in VARIANTS]
    if unknown:
        raise NotebookFailed(f"unknown variant(s) {unknown} in metadata; known: {sorted(VARIANTS)}")
    return wanted


def execute(path: Path, out: Path, first_timeout: int, cell_timeout: int, variant: str | None = None) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "rust":
        raise NotebookFailed(f"kernelspec is {kernel!r}, expected 'rust'")
    secrets = passwords()
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=cell_timeout,
        startup_timeout=120,
        allow_errors=True,  # we collect every problem ourselves, then fail
        resources={"metadata": {"path": str(path.parent)}},
    )
    name = f"{path.name} [{variant}]" if variant else path.name
    report = {"notebook": name, "cells": len(code_cells), "problems": [], "first_cell_index": code_cells[0] if code_cells else -1}
    started = time.monotonic()
    cell_times = {}
    try:
        with client.setup_kernel():
            report["kernel_start_s"] = round(time.monotonic() - started, 2)
            spy = IopubSpy(client)
            for n, index in enumerate(code_cells):
                spy.current_cell = index
                client.timeout = first_timeout if n == 0 else cell_timeout
                t0 = time.monotonic()
                try:
                    client.execute_cell(nb.cells[index], index)
                except CellTimeoutError:
                    report["problems"].append(f"cell {index}: ran past its limit of {client.timeout} s")
                    break
                except DeadKernelError as e:
                    report["problems"].append(f"cell {index}: the kernel died ({e})")
                    break
                cell_times[index] = time.monotonic() - t0
                if n == 0:
                    report["first_result_s"] = round(time.monotonic() - started, 1)
                report["problems"].extend(check_cell(index, nb.cells[index], secrets))
            spy.drain(2.0)
            report["problems"].extend(spy.problems())
    finally:
        report["total_s"] = round(time.monotonic() - started, 1)
        report["cell_s"] = {str(i): round(t, 2) for i, t in cell_times.items()}
        report.update(cell_statistics(nb, code_cells, cell_times))
        report["stable"] = {str(i): stable_text(nb.cells[i]) for i in code_cells if STABLE_TAG in nb.cells[i].get("metadata", {}).get("tags", [])}
        scrub_outputs(nb, secrets)
        # nor the report (a problem quotes the cell's stderr)
        report["problems"] = [scrub(p, secrets) for p in report["problems"]]
        report["stable"] = {k: scrub(v, secrets) for k, v in report["stable"].items()}
        write_outputs(nb, f"{path.stem}.{variant}" if variant else path.stem, out)
    return report


def cell_name(cell) -> str:
    """A cell's name for a report: its first line that is not a comment or an evcxr command."""
    for line in cell.source.splitlines():
        line = line.strip()
        if line and not line.startswith(("//", ":")):
            return line if len(line) <= 60 else line[:57] + "..."
    return "(empty)"


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation (q in 0..1), as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def cell_statistics(nb, code_cells: list[int], cell_times: dict[int, float]) -> dict:
    """Median, p95 and max of every code cell after the first, and the three slowest by name."""
    later = [(cell_times[i], i) for i in code_cells[1:] if i in cell_times]
    if not later:
        return {}
    times = [t for t, _ in later]
    slowest = sorted(later, reverse=True)[:3]
    return {
        "cells_after_first": len(later),
        "median_cell_s": round(percentile(times, 0.5), 2),
        "p95_cell_s": round(percentile(times, 0.95), 2),
        "max_cell_s": round(max(times), 2),
        "slowest_cells": [{"cell": i, "s": round(t, 2), "name": cell_name(nb.cells[i])} for t, i in slowest],
    }


def write_outputs(nb, stem: str, out: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter, SlidesExporter

    for sub in ("notebooks", "html", "slides"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / "notebooks" / f"{stem}.ipynb")
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out / "html" / f"{stem}.html").write_text(html)
    slides, _ = SlidesExporter().from_notebook_node(nb)
    (out / "slides" / f"{stem}.slides.html").write_text(slides)


def run(paths: list[Path], out: Path, first_timeout: int, cell_timeout: int, quiet=False) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("M8_OUT_DIR", str(out))
    # The project's kernel spec (scripts/kernel/start.py, registered by setup.sh) comes first.
    venv_share = Path(sys.prefix) / "share" / "jupyter"
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(venv_share), os.environ.get("JUPYTER_PATH")]))
    reports = []
    for path in paths:
        if not quiet:
            print(f"==> {path.name}", flush=True)
        try:
            runs = [None, *variants_of(path)]
        except NotebookFailed as e:
            runs, reports = [], reports + [{"notebook": path.name, "problems": [str(e)]}]
        for variant in runs:
            if variant and not quiet:
                print(f"==> {path.name} [{variant}]", flush=True)
            saved = dict(os.environ)
            os.environ.update(VARIANTS[variant]() if variant else {})
            try:
                report = execute(path, out, first_timeout, cell_timeout, variant)
            except NotebookFailed as e:
                report = {"notebook": path.name, "problems": [str(e)]}
            finally:
                os.environ.clear()
                os.environ.update(saved)
            reports.append(report)
            if not quiet:
                for p in report["problems"]:
                    print(f"    FAIL {p}", flush=True)
    return reports


def in_order(paths: list[Path], fragments: list[str]) -> list[Path]:
    """`paths` with those whose name holds a fragment first, in the fragments' order."""
    first = [p for f in fragments if f.strip() for p in paths if f.strip() in p.name]
    first = list(dict.fromkeys(first))
    return first + [p for p in paths if p not in first]


def compare_passes(first: list[dict], second: list[dict], quiet=False) -> dict:
    """A report whose problems are the `stable` cells that showed something else the second time."""
    problems, compared = [], 0
    by_name = {r["notebook"]: r for r in first}
    for r in second:
        name = r["notebook"].removesuffix(" (2nd pass)")
        before = by_name.get(name, {}).get("stable", {})
        for cell, text in r.get("stable", {}).items():
            compared += 1
            if cell in before and before[cell] != text:
                problems.append(f"{name} cell {cell} differs between the passes:\n      first:  {before[cell][:600]}\n      second: {text[:600]}")
    if not quiet:
        print(f"\nsecond pass: {compared} stable cells compared, {len(problems)} differ", flush=True)
        for p in problems:
            print(f"    FAIL {p}", flush=True)
    return {"notebook": "stable outputs, both passes", "cells": compared, "problems": problems}


def print_table(reports: list[dict]) -> None:
    def fmt(r: dict, k: str) -> str:
        return f"{r[k]} s" if k in r else "—"

    print("\n| notebook | first result | median cell | p95 cell | slowest cell | total | result |")
    print("|---|---:|---:|---:|---|---:|---|")
    for r in reports:
        status = "ok" if not r["problems"] else f"FAILED ({len(r['problems'])})"
        slow = r.get("slowest_cells", [])
        slowest = f"{slow[0]['s']} s `{slow[0]['name']}`" if slow else "—"
        print(f"| {r['notebook']} | {fmt(r, 'first_result_s')} | {fmt(r, 'median_cell_s')} | {fmt(r, 'p95_cell_s')} | {slowest} | {fmt(r, 'total_s')} | {status} |")
    timed = [r for r in reports if "median_cell_s" in r and not r["notebook"].endswith("(2nd pass)")]
    if timed:
        later = [t for r in timed for i, t in r["cell_s"].items() if int(i) != r["first_cell_index"]]
        print(f"\nevery cell after the first, all notebooks: median {percentile(later, 0.5):.2f} s, "
              f"p95 {percentile(later, 0.95):.2f} s, max {max(later):.2f} s over {len(later)} cells")


def self_test(out: Path, first_timeout: int, cell_timeout: int) -> int:
    """Each notebook in scripts/runner-selftest must fail for the reason its metadata names."""
    cases = sorted((ROOT / "scripts" / "runner-selftest").glob("*.ipynb"))
    if not cases:
        print("no self-test notebooks found", file=sys.stderr)
        return 1
    import nbformat

    # A made-up password for the cases that configure one ({secret} in their metadata), new on
    # every run, so that no file of the project holds it and a leak into out/ can be told apart.
    secret = f"m8-S3c%3F{os.urandom(6).hex()}"
    fill = {"{secret}": secret, "{secret_decoded}": secret.replace("%3F", "?"), "{run}": os.urandom(6).hex()}

    def filled(value: str) -> str:
        for k, v in fill.items():
            value = value.replace(k, v)
        return value

    failures = 0
    for path in cases:
        meta = nbformat.read(path, as_version=4).metadata.get("runner_selftest", {})
        meta = {**meta, "env": {k: filled(v) for k, v in meta.get("env", {}).items()},
                "expect_scrubbed": [filled(v) for v in meta.get("expect_scrubbed", [])]}
        # A case may configure services of its own (a URL with a password, say) for its kernel.
        saved = dict(os.environ)
        os.environ.update(meta.get("env", {}))
        try:
            report = run([path], out / "selftest", first_timeout, cell_timeout, quiet=True)[0]
            if meta.get("second_pass"):  # the same notebook again, compared as --second-pass does
                again = run([path], out / "selftest" / "second-pass", first_timeout, cell_timeout, quiet=True)
                report["problems"] += compare_passes([report], again, quiet=True)["problems"]
        finally:
            os.environ.clear()
            os.environ.update(saved)
        expected = meta.get("expect_failure", "")
        caught = [p for p in report["problems"] if expected and expected in p]
        written = [f for f in (out / "selftest").rglob(f"{path.stem}.*") if f.is_file()]
        leaked = [f"{f.name} holds {s!r}" for f in written for s in meta.get("expect_scrubbed", []) if s in f.read_text(errors="replace")]
        if leaked or (meta.get("expect_scrubbed") and not written):
            failures += 1
            print(f"WRONG {path.name}: the runner wrote a password: {leaked or 'no file written to check'}")
        elif expected and caught:
            print(f"ok    {path.name}: runner failed it as expected ({caught[0]})")
        elif not expected and not report["problems"]:
            print(f"ok    {path.name}: clean notebook passed")
        else:
            failures += 1
            print(f"WRONG {path.name}: expected {expected or 'no problem'!r}, got {report['problems']}")
    import tempfile

    for left in Path(tempfile.gettempdir()).glob(f"m8-selftest-*{fill['{run}']}"):  # the leak case's counter
        left.unlink()
    print(f"runner self-test: {len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("M8_OUT_DIR", ROOT / "out")))
    ap.add_argument("--first-cell-timeout", type=int, default=int(os.environ.get("M8_FIRST_CELL_TIMEOUT", 3600)))
    ap.add_argument("--cell-timeout", type=int, default=int(os.environ.get("M8_CELL_TIMEOUT", 600)))
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="run only the notebooks whose file name contains TEXT (e.g. 03); repeatable")
    ap.add_argument("--second-pass", metavar="ORDER", default="",
                    help="then run the same notebooks again in this order (name fragments, e.g. 05,03,04,01,02,00; "
                         "the rest follow) into OUT/second-pass, and fail when a cell tagged `stable` shows other words or counts")
    ap.add_argument("--list", action="store_true", help="list the notebooks (and variants) that would run, and stop")
    args = ap.parse_args()
    out = args.out.resolve()
    if args.self_test:
        return self_test(out, args.first_cell_timeout, args.cell_timeout)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(o in p.name for o in args.only)]
    if not paths:
        print(f"no notebooks to run{' matching ' + ', '.join(args.only) if args.only else ''}", file=sys.stderr)
        return 1
    if args.list:
        for p in paths:
            print(" ".join([p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else str(p), *(f"[{v}]" for v in variants_of(p))]))
        return 0
    reports = run(paths, out, args.first_cell_timeout, args.cell_timeout)
    if args.second_pass:
        again = in_order(paths, args.second_pass.split(","))
        print(f"\n==> second pass, in this order: {', '.join(p.stem for p in again)} (into {out / 'second-pass'})", flush=True)
        second = run(again, out / "second-pass", args.first_cell_timeout, args.cell_timeout)
        for r in second:
            r["notebook"] += " (2nd pass)"
        reports += second + [compare_passes(reports[: len(reports) - len(second)], second)]
    (out / "run-report.json").write_text(json.dumps(reports, indent=2))
    print_table(reports)
    failed = [r["notebook"] for r in reports if r["problems"]]
    if failed:
        print(f"\n{len(failed)} notebook(s) failed: {', '.join(failed)} (executed copies in {out}/notebooks)")
        return 1
    print(f"\nall {len(reports)} notebook(s) ran clean; outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
