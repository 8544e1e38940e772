"""examples/upload_demo.py: success, a propagated failure, and Ctrl-C."""

import signal
import subprocess
import sys
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "examples" / "upload_demo.py"
FAST = ["--volume-seconds", "0.1", "--seed", "1"]


def run(*args):
    # Bytes, decoded here: text mode would turn the progress bar's \r into \n.
    result = subprocess.run([sys.executable, str(DEMO), *args, *FAST], capture_output=True, timeout=60)
    result.stderr = result.stderr.decode()
    return result


def test_uploads_every_volume_and_prints_a_summary():
    result = run("--volumes", "8", "--workers", "3")
    assert result.returncode == 0, result.stderr
    assert "\r[" in result.stderr  # the live progress bar
    assert "8/8 volumes" in result.stderr
    assert "Uploaded 8 volumes, 200 MB" in result.stderr
    assert "at most 3 uploads in flight" in result.stderr


def test_a_failed_upload_propagates():
    result = run("--volumes", "12", "--workers", "2", "--fail-at", "4")
    assert result.returncode == 1
    assert "Upload failed: volume 4: connection reset by peer" in result.stderr
    assert "Uploaded" not in result.stderr


def test_ctrl_c_stops_cleanly_with_status_130():
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--volumes", "200", *FAST], stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.0)
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 130, stderr
    assert "Interrupted:" in stderr and "stopped cleanly" in stderr
    assert "Traceback" not in stderr
    assert elapsed < 5
