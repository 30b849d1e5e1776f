"""OCR with RapidOCR (PP-OCRv4, ONNX), behind a cheap text gate.

RapidOCR's default detection scales an image's *short* side up to 736 px: a 600x400 photo is
detected at 1104x736, most of OCR's cost, and on most photos it finds nothing. Here an image is
first detected at low resolution (its long side halved, 320 to 960 px: a few tens of
milliseconds); only when that finds a text box does the full pass run, with detection at the
image's own resolution (small images brought up to 640 px on the long side, large ones down
to 1,152). ``bench/bench_encoders.py`` measures both on a mixed set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image as PILImage

MIN_LONG_SIDE = 640  # smaller images are scaled up to this before detection
DET_MAX_SIDE = 1152  # larger ones are detected at this long side (RapidOCR's own cap: 2,000)
GATE_MIN_SIDE, GATE_MAX_SIDE = 320, 960


def gate_side(width: int, height: int) -> int:
    """The long side the gate detects at: half the image's, within 320-960 px (text at most
    halved in size, so a 14 px caption on a 1600 px scan is still seen)."""
    return int(min(GATE_MAX_SIDE, max(GATE_MIN_SIDE, max(width, height) / 2)))


class TextReader:
    """RapidOCR with the gate. Not thread-safe to construct; calls are (onnxruntime is)."""

    def __init__(self, threads: int | None = None) -> None:
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        # onnxruntime's threads spin while they wait: more of them than cores starves others
        self.engine: Any = RapidOCR(**({"intra_op_num_threads": threads} if threads else {}))
        self.det: Any = self.engine.text_det
        full = DetPreProcess(DET_MAX_SIDE, "max", self.det.mean, self.det.std)
        # detection at the image's own size, at most DET_MAX_SIDE on the long side (the
        # default's "min" scaling blows a 600x400 photo up to 1104x736)
        self.det.get_preprocess = lambda _max_side: full

    def has_text(self, bgr: Any) -> bool:
        """Whether detection at low resolution finds any text box."""
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        height, width = bgr.shape[:2]
        pre = DetPreProcess(gate_side(width, height), "max", self.det.mean, self.det.std)
        preds = self.det.infer(pre(bgr))[0]
        boxes, _scores = self.det.postprocess_op(preds, (height, width))
        return len(self.det.filter_tag_det_res(boxes, (height, width))) > 0

    def read(
        self, img: PILImage.Image, min_score: float, gate: bool = True
    ) -> list[dict[str, Any]] | None:
        """The lines read from an RGB image, in reading order; None when the gate found no
        text (not read)."""
        import numpy as np
        from PIL import Image

        scale = 1.0
        if max(img.size) < MIN_LONG_SIDE:
            scale = MIN_LONG_SIDE / max(img.size)
            img = img.resize(
                (round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC
            )
        bgr = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
        if gate and not self.has_text(bgr):
            return None
        result, _elapsed = self.engine(bgr)
        lines = []
        for box, text, score in result or []:
            if float(score) >= min_score and str(text).strip():
                lines.append(
                    {
                        "text": str(text).strip(),
                        "score": round(float(score), 4),
                        "box": [[round(float(x) / scale), round(float(y) / scale)] for x, y in box],
                    }
                )
        return lines
