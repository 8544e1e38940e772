#!/usr/bin/env python3
"""A simulation of duplicity's asynchronous volume upload, on dup_threading.

The main thread produces backup volumes in order. Each volume is uploaded on
its own worker thread through async_split, with at most --workers uploads in
flight: the producer waits for a free slot on a dup_threading.Condition with
interruptably_wait (no polling). Upload progress is kept in a Value and drawn
as a progress bar on stderr. The first failed upload (--fail-at) propagates to
the producer through that upload's waiter, the way duplicity reports it.
Ctrl-C stops everything cleanly, with exit status 130.

    python upload_demo.py [--volumes N] [--workers K] [--fail-at M]
"""

import argparse
import random
import sys
import threading
import time

import dup_threading as dt

VOLUME_MB = 25


class UploadError(Exception):
    pass


class Uploader:
    def __init__(self, workers, volume_seconds, fail_at):
        self.cv = dt.Condition()  # guards in_flight, failed, cancelled
        self.workers = workers
        self.volume_seconds = volume_seconds
        self.fail_at = fail_at
        self.in_flight = 0
        self.peak = 0
        self.failed = None  # waiter of the first failed upload
        self.cancelled = False
        self.threads = []
        # Progress, updated by every worker: (volumes done, MB sent).
        self.progress = dt.Value((0, 0.0))

    # -- producer side (main thread) -----------------------------------------

    def schedule(self, volume):
        waiter, caller = dt.async_split(lambda: self.upload(volume))

        def take_slot():
            dt.interruptably_wait(self.cv, lambda: self.in_flight < self.workers or self.failed)
            if self.failed:
                self.failed()  # re-raises the first failure, with its traceback
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

        dt.with_lock(self.cv, take_slot)
        t = threading.Thread(target=self.work, args=(caller,), name=f"upload-{volume}", daemon=True)
        self.threads.append(t)
        t.start()
        return waiter

    def cancel(self):
        with self.cv:
            self.cancelled = True
            self.cv.notify_all()
        for t in self.threads:
            t.join(2)

    # -- worker side --------------------------------------------------------

    def work(self, caller):
        ok, waiter = caller()

        def finish():
            self.in_flight -= 1
            if not ok and self.failed is None:
                self.failed = waiter
            self.cv.notify_all()

        dt.with_lock(self.cv, finish)

    def upload(self, volume):
        """Sends one volume in chunks; stops early when cancelled."""
        chunks = 10
        pause = self.volume_seconds * random.uniform(0.6, 1.4) / chunks
        for chunk in range(chunks):
            with self.cv:
                if self.cv.wait_for(lambda: self.cancelled, timeout=pause):
                    raise UploadError(f"volume {volume}: cancelled")
            if volume == self.fail_at and chunk == chunks // 2:
                raise UploadError(f"volume {volume}: connection reset by peer")
            self.progress.transform(lambda p: (p[0], p[1] + VOLUME_MB / chunks))
        self.progress.transform(lambda p: (p[0] + 1, p[1]))
        return VOLUME_MB


class ProgressBar:
    """Redraws one line on stderr ten times a second until stopped."""

    def __init__(self, uploader, total, stream=sys.stderr):
        self.uploader, self.total, self.stream = uploader, total, stream
        self.stop_cv = dt.Condition()
        self.stopped = False
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def line(self):
        done, mb = self.uploader.progress.get()
        width = 30
        filled = int(width * mb / (self.total * VOLUME_MB)) if self.total else width
        rate = mb / max(time.monotonic() - self.started, 1e-6)
        return (f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} volumes  "
                f"{mb:7.1f} MB  {rate:6.1f} MB/s  {self.uploader.in_flight} in flight ")

    def run(self):
        with self.stop_cv:
            while not self.stopped:
                self.stream.write(self.line())
                self.stream.flush()
                self.stop_cv.wait(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        with self.stop_cv:
            self.stopped = True
            self.stop_cv.notify()
        self.thread.join(2)
        self.stream.write(self.line() + "\n")
        self.stream.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=20, help="volumes to back up (default 20)")
    parser.add_argument("--workers", type=int, default=4, help="uploads in flight at most (default 4)")
    parser.add_argument("--fail-at", type=int, default=0, metavar="M", help="make the upload of volume M fail")
    parser.add_argument("--volume-seconds", type=float, default=0.4, help="time to upload one volume")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    args = parser.parse_args(argv)
    if args.volumes < 0 or args.workers < 1:
        parser.error("--volumes must be >= 0 and --workers >= 1")
    random.seed(args.seed)

    uploader = Uploader(args.workers, args.volume_seconds, args.fail_at)
    started = time.monotonic()
    waiters = []
    try:
        with ProgressBar(uploader, args.volumes):
            for volume in range(1, args.volumes + 1):
                time.sleep(args.volume_seconds / 10)  # "create" the volume, in order
                waiters.append(uploader.schedule(volume))
            sent = sum(w() for w in waiters)  # the first failure, if any, raises here
    except KeyboardInterrupt:
        uploader.cancel()
        done, _ = uploader.progress.get()
        print(f"\nInterrupted: {done} of {args.volumes} volumes uploaded; stopped cleanly.", file=sys.stderr)
        return 130
    except UploadError as error:
        uploader.cancel()
        done, _ = uploader.progress.get()
        print(f"Upload failed: {error} ({done} of {args.volumes} volumes uploaded)", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"Uploaded {len(waiters)} volumes, {sent} MB in {elapsed:.2f} s "
          f"({sent / elapsed:.1f} MB/s), at most {uploader.peak} uploads in flight.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
