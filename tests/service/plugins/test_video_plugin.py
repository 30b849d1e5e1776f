"""Video plugin: scene-change frames and speech on one timeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.plugins import MediaItem
from plugins.video import VideoOptions
from tests.support import media as mf

pytestmark = [pytest.mark.models, pytest.mark.slow]


def test_frames_and_speech_on_one_timeline(video_encoder, scene_video: Path) -> None:
    [enc] = video_encoder.encode(
        [MediaItem(scene_video, "video/mp4", name="scenes.mp4")], VideoOptions()
    )
    frames = [s for s in enc.segments if s.kind == "frame"]
    speech = [s for s in enc.segments if s.kind == "speech"]
    assert len(frames) == 2, [(s.start, s.text) for s in frames]  # two scenes, not nine samples
    assert enc.metadata["frames_considered"] >= 9
    assert frames[0].start is not None and abs(frames[0].start - 0.0) <= 1.0
    assert frames[1].start is not None and abs(frames[1].start - 3.0) <= 1.0
    assert any(w in frames[0].text for w in ("espresso", "coffee", "cup")), frames[0].text
    assert any(w in frames[1].text for w in ("cat", "tabby", "lynx")), frames[1].text
    assert speech and speech[0].start is not None and abs(speech[0].start - 3.0) <= 1.0, speech
    assert mf.wer(mf.SENTENCE, enc.metadata["transcript"]) < 0.25, enc.metadata["transcript"]
    starts = [s.start or 0.0 for s in enc.segments]
    assert starts == sorted(starts)
    assert "Said" in enc.text and "Seen" in enc.text


def test_frame_cap_and_uniform_sampling(scene_video: Path) -> None:
    from plugins.video.frames import sample_frames

    uniform = sample_frames(scene_video, fps=2.0, uniform=True, max_frames=100)
    assert 17 <= len(uniform.frames) <= 19
    capped = sample_frames(scene_video, fps=2.0, uniform=True, max_frames=4)
    assert len(capped.frames) == 4
    skipping = sample_frames(scene_video, fps=2.0, max_frames=100)
    assert len(skipping.frames) == 2


@pytest.mark.parametrize("suffix", [".webm", ".mkv", ".mov"])
def test_other_containers(video_encoder, media_dir: Path, suffix: str) -> None:
    path = mf.make_video(media_dir / f"still{suffix}", [(mf.photo("chelsea"), 2.0)], fps=5)
    [enc] = video_encoder.encode([MediaItem(path, "video/x")], VideoOptions(ocr=False))
    frames = [s for s in enc.segments if s.kind == "frame"]
    assert len(frames) == 1 and not [s for s in enc.segments if s.kind == "speech"]
