"""What every PDF Accord prints shares: the CID font that prints Chinese without a font file, and pages
that say "page n of m" with a footer."""

from __future__ import annotations

FONT = "STSong-Light"  # ships with reportlab


def register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def numbered_canvas(page_label: str, footer: str):
    """A reportlab canvas class for `build(canvasmaker=…)`: `page_label` has %(page)s and %(pages)s."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    class NumberedCanvas(Canvas):
        # Pages are kept until the end, so each footer can say how many there are.
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(FONT, 8)
                self.setFillColor(colors.grey)
                self.drawRightString(A4[0] - 18 * mm, 10 * mm, page_label % {"page": self._pageNumber, "pages": total})
                self.drawString(18 * mm, 10 * mm, footer)
                super().showPage()
            super().save()

    return NumberedCanvas
