"""The busy desktop image for the recorder benchmark, and a window that shows it.

`make_busy_desktop(path)` draws a desktop-like 1920x1080 image (code editor, web page with a
photo, spreadsheet, terminal, taskbar over a photo-like wallpaper): text in several fonts and
photo texture, which PNG compresses poorly, unlike flat widgets.

    python benchmarks/desktop_background.py IMAGE

shows IMAGE in a full-screen window (with no window manager it stays below the others) and
prints "ready" once it is up.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

WIDTH, HEIGHT = 1920, 1080


def _font(name: str, size: int):
    from PIL import ImageFont

    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"):
        path = Path(folder) / name
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _photo(rng: random.Random, size: tuple[int, int], grain: int, detail: int = 40):
    """A photo-like region: smooth colour fields, mid-scale texture and per-pixel grain."""
    from PIL import Image, ImageChops

    w, h = size
    coarse = Image.new("RGB", (8, 5))
    coarse.putdata([tuple(rng.randrange(30, 230) for _ in range(3)) for _ in range(8 * 5)])
    image = coarse.resize(size, Image.Resampling.BICUBIC)
    mid = Image.new("RGB", (max(2, w // detail), max(2, h // detail)))
    mid.putdata([tuple(rng.randrange(0, 256) for _ in range(3)) for _ in range(mid.width * mid.height)])
    image = Image.blend(image, mid.resize(size, Image.Resampling.BICUBIC), 0.2)
    if grain:
        noise = Image.frombytes("L", size, rng.randbytes(w * h))
        noise = noise.point(lambda v: 128 + (v - 128) * grain // 128)
        image = ImageChops.add(image, Image.merge("RGB", (noise, noise, noise)), 1.0, -128)
    return image


def _lorem(rng: random.Random, words: int) -> str:
    vocab = ("the recorder screen frame step action window text quarterly revenue grew percent "
             "customer support ticket invoice meeting agenda schedule project budget update "
             "deploy server request response latency design review notes draft final version "
             "table chart figure summary results method data analysis user interface").split()
    return " ".join(rng.choice(vocab) for _ in range(words))


def make_busy_desktop(path: Path, seed: int = 7) -> None:
    """A desktop-like 1920x1080 image: wallpaper, a code editor, a web page with a photo,
    a terminal, a spreadsheet and a taskbar."""
    from PIL import ImageDraw

    rng = random.Random(seed)
    img = _photo(rng, (WIDTH, HEIGHT), grain=8)  # photo wallpaper, visible between the windows
    draw = ImageDraw.Draw(img)
    mono, sans, sans_b, serif, serif_b = (_font("DejaVuSansMono.ttf", 14), _font("DejaVuSans.ttf", 15),
                                          _font("DejaVuSans-Bold.ttf", 13), _font("DejaVuSerif.ttf", 16),
                                          _font("DejaVuSerif-Bold.ttf", 28))
    small = _font("DejaVuSansCondensed.ttf", 12)

    def window(box, title, body="#ffffff", bar="#dfe3e8"):
        l, t, r, b = box
        draw.rectangle((l + 4, t + 4, r + 4, b + 4), fill="#20202080")
        draw.rectangle(box, fill=body, outline="#7a7a7a")
        draw.rectangle((l, t, r, t + 30), fill=bar)
        draw.text((l + 12, t + 7), title, font=sans_b, fill="#202020")
        for i, colour in enumerate(("#ff5f57", "#febc2e", "#28c840")):
            draw.ellipse((r - 80 + i * 24, t + 8, r - 66 + i * 24, t + 22), fill=colour)
        return l, t + 31, r, b

    # code editor (dark), left
    l, t, r, b = window((20, 50, 930, 1010), "recorder.py - Code Editor", body="#1e1e1e", bar="#3c3c3c")
    draw.rectangle((l, t, l + 46, b), fill="#252526")
    colours = ["#569cd6", "#ce9178", "#9cdcfe", "#dcdcaa", "#6a9955", "#c586c0", "#d4d4d4"]
    for n, y in enumerate(range(t + 6, b - 18, 19)):
        draw.text((l + 6, y), f"{n + 1:4d}", font=mono, fill="#858585")
        x = l + 56 + 28 * rng.randrange(0, 4)
        for _ in range(rng.randrange(2, 9)):
            word = rng.choice(["def", "self", "return", "frame", "queue.get()", "if", "None", "for",
                               "time.monotonic()", "# comment", "'step'", "x", "=", "(", ")", "await"])
            draw.text((x, y), word, font=mono, fill=rng.choice(colours))
            x += int(draw.textlength(word + " ", font=mono))
            if x > r - 60:
                break
    # web page with a photo, right
    l, t, r, b = window((900, 30, 1900, 700), "Quarterly report - Web Browser")
    draw.rectangle((l, t, r, t + 40), fill="#f1f3f4")
    draw.rounded_rectangle((l + 90, t + 7, r - 90, t + 33), 12, fill="#ffffff", outline="#c0c0c0")
    draw.text((l + 110, t + 12), "https://example.org/reports/2024/q3/summary.html", font=sans, fill="#333")
    draw.text((l + 30, t + 60), "Quarterly results and outlook", font=serif_b, fill="#111")
    img.paste(_photo(rng, (440, 300), grain=12, detail=15), (l + 30, t + 110))
    y = t + 110
    for _ in range(15):
        draw.text((l + 490, y), _lorem(rng, 4), font=serif, fill="#222")
        y += 21
    y = t + 430
    while y < b - 20:
        draw.text((l + 30, y), _lorem(rng, 13), font=sans, fill="#333")
        y += 20
    for i in range(12):
        draw.text((r - 170, t + 60 + i * 22), _lorem(rng, 2).title(), font=small, fill="#1a0dab")
    # spreadsheet, bottom right
    l, t, r, b = window((960, 640, 1700, 1030), "budget.ods - Spreadsheet")
    for row in range(16):
        for col in range(8):
            x0, y0 = l + col * 92, t + row * 22
            fill = "#e8eef7" if row == 0 else ("#ffffff" if row % 2 else "#f7f7f7")
            draw.rectangle((x0, y0, x0 + 92, y0 + 22), fill=fill, outline="#d0d0d0")
            text = chr(65 + col) if row == 0 else f"{rng.uniform(-999, 9999):,.2f}"
            draw.text((x0 + 6, y0 + 4), text, font=small, fill="#000" if row else "#335")
    # bar chart panel in the spreadsheet's corner
    for i in range(10):
        height = rng.randrange(20, 120)
        draw.rectangle((l + 420 + i * 28, b - 10 - height, l + 440 + i * 28, b - 10),
                       fill=rng.choice(["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"]))
    # terminal, overlapping
    l, t, r, b = window((120, 700, 820, 1000), "Terminal", body="#0c0c0c", bar="#2d2d2d")
    y = t + 6
    while y < b - 16:
        draw.text((l + 8, y), "$ " + _lorem(rng, 7) if rng.random() < 0.3 else _lorem(rng, 9),
                  font=mono, fill=rng.choice(["#cccccc", "#16c60c", "#f9f1a5", "#3b78ff"]))
        y += 18
    # top panel and taskbar
    draw.rectangle((0, 0, WIDTH, 24), fill="#2b2b2b")
    draw.text((10, 4), "Activities    Files    Edit    View    Help", font=small, fill="#eeeeee")
    draw.text((WIDTH - 150, 4), "Tue 14:32   92%", font=small, fill="#eeeeee")
    draw.rectangle((0, HEIGHT - 44, WIDTH, HEIGHT), fill="#1f2430")
    for i in range(14):
        x = 16 + i * 56
        draw.rounded_rectangle((x, HEIGHT - 38, x + 40, HEIGHT - 6), 8,
                               fill=rng.choice(["#e94560", "#0f3460", "#16c79a", "#f5a623", "#8e44ad",
                                                "#2980b9", "#c0392b"]))
        draw.text((x + 12, HEIGHT - 30), rng.choice("ABCDEFGHJKLMNP"), font=sans_b, fill="white")
    img.save(path)


def show_background(path: str) -> int:
    """Helper mode: a full-screen window showing the image (no window manager: it stays below)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication([sys.argv[0]])
    app.setApplicationName("benchmark-background")
    label = QLabel()
    label.setPixmap(QPixmap(path))
    label.setGeometry(0, 0, WIDTH, HEIGHT)
    label.show()
    QTimer.singleShot(800, lambda: print("ready", flush=True))
    return app.exec()


if __name__ == "__main__":
    sys.exit(show_background(sys.argv[1]))
