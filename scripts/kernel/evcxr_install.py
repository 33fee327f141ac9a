#!/usr/bin/env python3
"""Installs evcxr_jupyter (the notebooks' kernel) with the project's two small fixes.

    evcxr_install.py            install it unless this version with these fixes is installed
    evcxr_install.py --check    exit 0 when it is installed, 1 when not
    evcxr_install.py --source   print the patched source folder (made if missing)

The source is the crates.io release (its sha256 checked against the crates.io index), unpacked
under $M8_CACHE/evcxr-src/, patched below, and installed with `cargo install --locked --path`
(the release's own Cargo.lock). The fixes, in evcxr_jupyter's src/core.rs:

  1. A reply that cannot be sent on the control channel no longer ends the kernel. JupyterLab
     asks a starting kernel for kernel_info on a shell and a control channel every 0.5 s and
     closes both at the first answer; evcxr answers only after its start-up (it builds a first
     crate), then replies to the control requests that queued meanwhile on a closed channel:
     `Codec Error: Broken pipe`, and the `?` there ended the process. Jupyter restarted it,
     sometimes on new ports the page never learnt: the cell after Kernel → Restart hung at
     [*]. evcxr already logs and goes on for the same error on the shell channel ("We see this
     often after issuing a restart-kernel from the Jupyter UI").
  2. When the process that runs the cells dies (Kernel → Interrupt kills it with signal 9; a
     crash), the error says what is lost and what to do, after evcxr's own line.

An evcxr upgrade: set EVCXR_VERSION in scripts/common.sh; if a patch's anchor text is gone,
this stops and names it — read the new source, then move the anchor or drop the fix.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import builds  # noqa: E402

CRATE = "evcxr_jupyter"
LOST = ("The kernel's process was stopped (Kernel → Interrupt stops it with signal 9; anything "
        "else is a crash): every variable of earlier cells is gone, while :dep, use and fn items "
        "are kept. Run the notebook's first cell again (seconds), then the cell you were at.")

PATCHES = [
    ("src/core.rs",
     """                "kernel_info_request" => {
                    message
                        .new_reply()
                        .with_content(kernel_info())
                        .send(&mut connection)
                        .await?
                }""",
     """                "kernel_info_request" => {
                    // module8: a reply on a channel the server already closed is not fatal
                    // (scripts/kernel/evcxr_install.py)
                    if let Err(error) = message
                        .new_reply()
                        .with_content(kernel_info())
                        .send(&mut connection)
                        .await
                    {
                        eprintln!("Error replying to control message `kernel_info_request`: {error:#}");
                    }
                }"""),
    ("src/core.rs",
     """                    message
                        .new_reply()
                        .with_content(object! {"status": "ok"})
                        .send(&mut connection)
                        .await?;
                }
                _ => {
                    eprintln!(
                        "Got unrecognized message type on control channel: {}",""",
     """                    if let Err(error) = message
                        .new_reply()
                        .with_content(object! {"status": "ok"})
                        .send(&mut connection)
                        .await
                    {
                        eprintln!("Error replying to control message `interrupt_request`: {error:#}");
                    }
                }
                _ => {
                    eprintln!(
                        "Got unrecognized message type on control channel: {}","""),
    ("src/core.rs",
     """            error => {
                let displayed_error = format!("{error}");""",
     """            error => {
                let mut displayed_error = format!("{error}");
                if displayed_error.contains("Subprocess terminated with status") {
                    displayed_error.push_str(%s);
                }""" % json.dumps("\n" + LOST, ensure_ascii=False)),
]


def version():
    with open(os.path.join(builds.ROOT, "scripts", "common.sh")) as f:
        for line in f:
            if line.startswith("EVCXR_VERSION="):
                return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("scripts/common.sh sets no EVCXR_VERSION")


def source_dir(ver):
    key = hashlib.sha256(json.dumps([ver, PATCHES]).encode()).hexdigest()[:12]
    return os.path.join(builds.cache_dir(), "evcxr-src", f"{CRATE}-{ver}-{key}")


def crate_bytes(ver):
    """The release's .crate: cargo's own download when it has one, else crates.io's, checked
    against the checksum in the crates.io index."""
    home = os.environ.get("CARGO_HOME") or os.path.expanduser("~/.cargo")
    cache = os.path.join(home, "registry", "cache")
    if os.path.isdir(cache):
        for registry in os.listdir(cache):
            p = os.path.join(cache, registry, f"{CRATE}-{ver}.crate")
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    return f.read()  # cargo checked it when it downloaded it
    with urllib.request.urlopen(f"https://index.crates.io/ev/cx/{CRATE}", timeout=60) as r:
        entries = [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]
    cksum = next((e["cksum"] for e in entries if e["vers"] == ver), None)
    if not cksum:
        raise SystemExit(f"{CRATE} {ver} is not in the crates.io index")
    with urllib.request.urlopen(f"https://static.crates.io/crates/{CRATE}/{CRATE}-{ver}.crate", timeout=300) as r:
        data = r.read()
    if hashlib.sha256(data).hexdigest() != cksum:
        raise SystemExit(f"{CRATE}-{ver}.crate from crates.io does not match the index's checksum")
    return data


def make_source(ver):
    dest = source_dir(ver)
    if os.path.isfile(os.path.join(dest, "Cargo.toml")):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(dest))
    try:
        path = os.path.join(tmp, "crate.tar.gz")
        with open(path, "wb") as f:
            f.write(crate_bytes(ver))
        with tarfile.open(path) as t:
            t.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(tmp)
        src = os.path.join(tmp, f"{CRATE}-{ver}")
        for rel, old, new in PATCHES:
            p = os.path.join(src, rel)
            with open(p) as f:
                text = f.read()
            if text.count(old) != 1:
                raise SystemExit(f"evcxr {ver}: the text to patch in {rel} is not there once "
                                 f"(found {text.count(old)} times); see scripts/kernel/evcxr_install.py:\n{old}")
            with open(p, "w") as f:
                f.write(text.replace(old, new))
        for old_dir in os.listdir(os.path.dirname(dest)):  # sources of other versions or patches
            if old_dir.startswith(CRATE + "-"):
                shutil.rmtree(os.path.join(os.path.dirname(dest), old_dir), ignore_errors=True)
        os.rename(src, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def installed(ver):
    out = subprocess.run(["cargo", "install", "--list"], stdout=subprocess.PIPE, text=True).stdout
    return f"{CRATE} v{ver} ({source_dir(ver)}):" in out


# rust-analyzer's IDE features (completion, assists, diagnostics, structural search) at opt-level 1:
# evcxr runs them only for Tab completion and hover, while a cell's types come from `hir`, which
# keeps the release profile (docs/notebook-performance.md, round eight).
IDE_CRATES = ["ra_ap_ide", "ra_ap_ide_assists", "ra_ap_ide_completion", "ra_ap_ide_diagnostics", "ra_ap_ide_ssr"]


def install(ver):
    src = make_source(ver)
    # `cargo install --path` builds in the package's own target/ and keeps it (~750 MB): a
    # temporary one instead, removed when the binary is installed.
    target = tempfile.mkdtemp(prefix="evcxr-target-", dir=os.path.dirname(src))
    cmd = ["nice", "-n", "10", "cargo", "install", "--locked", "--quiet", "--force", "--path", src, "--target-dir", target]
    for crate in IDE_CRATES:
        cmd += ["--config", f"profile.release.package.{crate}.opt-level=1"]
    try:
        subprocess.run(cmd, check=True)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def main(argv):
    ver = version()
    if argv[:1] == ["--check"]:
        return 0 if installed(ver) else 1
    if argv[:1] == ["--source"]:
        print(make_source(ver))
        return 0
    if installed(ver):
        builds.log(f"evcxr_jupyter {ver} (with the project's fixes) is installed")
        return 0
    builds.log(f"installing evcxr_jupyter {ver} with the project's fixes (cargo install --locked; "
               "15–30 minutes on 2 cores beside the dependencies, once)")
    install(ver)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
