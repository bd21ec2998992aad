"""Run as a program by ``test_media_log``: play a demo MJPEG stream, print the frames seen.

``python -m tests.video.play_mjpeg quiet|loud FRAMES``. ``quiet`` does what the console does:
``mute_media_probing`` before Qt is imported (as ``python -m console`` does for its window
commands), ``quiet_libav`` once the application exists. libav writes to file descriptor 2
itself, so its output is only seen from outside the process.
"""

from __future__ import annotations

import sys

from console.shell.media_log import mute_media_probing, quiet_libav


def main() -> int:
    mode, wanted = sys.argv[1], int(sys.argv[2])
    if mode == "quiet":
        mute_media_probing()
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtMultimedia import QMediaPlayer, QVideoSink

    from console.video.demo_streams import DemoStreamServer

    app = QGuiApplication(sys.argv[:1])
    if mode == "quiet":
        print(f"libav reached: {quiet_libav()}", flush=True)
    server = DemoStreamServer(["日志"], fps=25, size=(320, 180))
    server.start()
    frames = 0
    sink = QVideoSink()
    player = QMediaPlayer()
    player.setVideoSink(sink)

    def on_frame() -> None:
        nonlocal frames
        frames += 1
        if frames >= wanted:
            app.quit()

    sink.videoFrameChanged.connect(on_frame)
    player.setSource(server.url(0))
    player.play()
    QTimer.singleShot(20_000, app.quit)
    app.exec()
    player.stop()
    server.stop()
    print(f"frames: {frames}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
