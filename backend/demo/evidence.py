"""Small evidence files for the demo's dispute cases: photos (PNG) and documents (PDF), made on the spot.

Drawn rather than shipped, so the repository holds no binary fixtures and every run makes the same
bytes: the photos are drawn with a seeded random generator, the PDFs are written in reportlab's
invariant mode (no creation date, no random document id).
"""

from __future__ import annotations

import io
import math
import random
import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]


class _Picture:
    """An RGB raster drawn with spans, written out as a PNG."""

    def __init__(self, width: int, height: int, background: Color) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        x0, x1 = max(0, x0), min(self.width, x1)
        run = bytes(color) * max(0, x1 - x0)
        for y in range(max(0, y0), min(self.height, y1)):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(run)] = run

    def ring(self, cx: int, cy: int, outer: int, inner: int, color: Color) -> None:
        """A filled disc of radius `outer` with a hole of radius `inner` (0: none)."""
        for dy in range(-outer, outer + 1):
            half = int((outer * outer - dy * dy) ** 0.5)
            hole = int((inner * inner - dy * dy) ** 0.5) if abs(dy) < inner else -1
            y = cy + dy
            if hole < 0:
                self.rect(cx - half, y, cx + half + 1, y + 1, color)
            else:
                self.rect(cx - half, y, cx - hole, y + 1, color)
                self.rect(cx + hole + 1, y, cx + half + 1, y + 1, color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 2) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for step in range(steps + 1):
            x = x0 + (x1 - x0) * step // steps
            y = y0 + (y1 - y0) * step // steps
            self.rect(x, y, x + width, y + width, color)

    def shade(self, top: Color, bottom: Color) -> None:
        """A vertical gradient over the whole picture, as a lit table top looks."""
        for y in range(self.height):
            t = y / max(1, self.height - 1)
            color = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
            self.rect(0, y, self.width, y + 1, color)

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


RED = (214, 40, 40)


def photo(motif: str, seed: str, width: int = 360, height: int = 240) -> bytes:
    """A phone photo as a buyer sends it: a damaged part, a faulty board, a crushed carton, or a carton label."""
    rng = random.Random(seed)
    picture = _Picture(width, height, (0, 0, 0))
    if motif == "part":
        # A bearing on the inspection bench: outer ring, balls, inner ring; a scratch circled in red.
        picture.shade((196, 200, 204), (140, 146, 152))
        cx, cy, r = width // 2 + rng.randint(-30, 30), height // 2 + rng.randint(-10, 10), min(width, height) // 2 - 18
        picture.ring(cx, cy, r, r - 16, (88, 94, 102))
        picture.ring(cx, cy, r - 16, r - 40, (58, 62, 68))
        for k in range(9):
            angle = k * 6.2832 / 9
            bx = cx + int((r - 28) * math.cos(angle))
            by = cy + int((r - 28) * math.sin(angle))
            picture.ring(bx, by, 10, 0, (172, 178, 186))
        picture.ring(cx, cy, r - 40, r - 56, (120, 126, 134))
        sx, sy = cx + rng.randint(-r // 2, r // 2), cy - r + 6
        picture.line(sx, sy, sx + rng.randint(20, 40), sy + rng.randint(10, 20), (30, 30, 30), 3)
        picture.ring(sx + 15, sy + 8, 30, 26, RED)
    elif motif == "board":
        # A controller board under the lamp: chips, a connector, a cold solder joint circled in red.
        picture.shade((210, 206, 198), (170, 166, 158))
        x0, y0, x1, y1 = 50, 35, width - 50, height - 35
        picture.rect(x0, y0, x1, y1, (28, 96, 58))
        for k in range(4):
            cx = x0 + 30 + k * (x1 - x0 - 60) // 3
            picture.rect(cx - 18, y0 + 30, cx + 18, y0 + 66, (24, 24, 28))
        picture.rect(x0 + 14, y1 - 40, x1 - 14, y1 - 22, (212, 212, 200))
        for k in range(14):
            px = x0 + 24 + k * (x1 - x0 - 48) // 13
            picture.ring(px, y0 + 100, 5, 2, (200, 180, 90))
        fault = rng.randint(3, 10)
        fx = x0 + 24 + fault * (x1 - x0 - 48) // 13
        picture.ring(fx, y0 + 100, 5, 0, (110, 104, 96))
        picture.ring(fx, y0 + 100, 22, 18, RED)
    elif motif == "carton":
        # A carton on the dock with a crushed corner and torn tape.
        picture.shade((120, 118, 112), (84, 82, 78))
        x0, y0, x1, y1 = 60, 50, width - 60, height - 30
        picture.rect(x0, y0, x1, y1, (181, 140, 92))
        picture.rect(x0, y0 + 30, x1, y0 + 44, (206, 190, 150))
        for k in range(6):
            picture.line(x1 - 70 + k * 8, y0, x1, y0 + 60 - k * 6, (120, 86, 50), 3)
        picture.rect(x1 - 40, y0, x1, y0 + 22, (84, 82, 78))
        picture.ring(x1 - 30, y0 + 30, 46, 42, RED)
    else:
        # The carton label: the barcode and the count printed on it.
        picture.shade((181, 140, 92), (160, 122, 78))
        picture.rect(50, 40, width - 50, height - 40, (246, 246, 240))
        x = 70
        while x < width - 80:
            bar = rng.choice((2, 3, 5))
            picture.rect(x, 60, x + bar, 130, (20, 20, 20))
            x += bar + rng.choice((2, 3, 4))
        for row in range(3):
            picture.rect(70, 145 + row * 16, 70 + rng.randint(120, 220), 153 + row * 16, (40, 40, 40))
        picture.ring(110, 170, 40, 36, RED)
    return picture.png()


def document(title: str, rows: Sequence[tuple[str, str]], body: Sequence[str] = (), *, footer: str = "") -> bytes:
    """A one-page PDF: a title, a table of facts, a few paragraphs (Chinese prints with a built-in CID font)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen.canvas import Canvas

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    width, height = A4
    canvas.setTitle(title)
    canvas.setFont(font, 16)
    canvas.drawString(56, height - 72, title)
    canvas.setLineWidth(0.6)
    canvas.line(56, height - 82, width - 56, height - 82)
    y = height - 110
    canvas.setFont(font, 10)
    for label, value in rows:
        canvas.drawString(56, y, label)
        canvas.drawString(210, y, value)
        y -= 18
    y -= 12
    for paragraph in body:
        for line in _wrap(paragraph, 90 if paragraph.isascii() else 46):
            canvas.drawString(56, y, line)
            y -= 15
        y -= 8
    if footer:
        canvas.setFont(font, 8)
        canvas.drawString(56, 48, footer)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    if not text.isascii():
        return [text[i : i + width] for i in range(0, len(text), width)] or [""]
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current]
