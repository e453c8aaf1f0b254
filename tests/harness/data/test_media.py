"""harness.data.media on tiny files generated here (numpy + soundfile + PyAV); nothing is downloaded."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from harness.data.media import (
    audio_duration,
    decode,
    load_audio,
    load_image,
    resolve_media,
    sample_video_frames,
    video_duration,
)
from harness.types import Media, MediaError

SR_IN = 22050


def tone(seconds: float = 1.0, sr: int = SR_IN, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


def write_av_audio(path: Path, x: np.ndarray, sr: int, codec: str) -> None:
    with av.open(str(path), "w") as c:
        stream = c.add_stream(codec, rate=sr, layout="mono")
        frame = av.AudioFrame.from_ndarray(x[None, :], format="fltp", layout="mono")
        frame.sample_rate = sr
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            c.mux(packet)


def write_video(path: Path, seconds: float = 2.0, fps: int = 10, audio: bool = False) -> None:
    """A 32x32 video whose frame i is uniformly grey with brightness 12*i, optionally with a tone."""
    with av.open(str(path), "w") as c:
        video = c.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        # Every stream must exist before the first mux (a late one has no time base yet).
        sound = c.add_stream("aac", rate=SR_IN, layout="mono") if audio else None
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 12 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                c.mux(packet)
        for packet in video.encode(None):
            c.mux(packet)
        if sound is not None:
            frame = av.AudioFrame.from_ndarray(tone(seconds)[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SR_IN, 0
            for packet in [*sound.encode(frame), *sound.encode(None)]:
                c.mux(packet)


def brightness(img: Image.Image) -> float:
    return float(np.asarray(img).mean())


# ------------------------------------------------------------------------------ resolve_media


def test_resolve_accepts_nested_path(tmp_path: Path) -> None:
    media = resolve_media(tmp_path, "clips/a/x.wav", "audio")
    assert media == Media("audio", str(tmp_path.resolve() / "clips" / "a" / "x.wav"))
    inside = tmp_path.resolve() / "y.png"
    assert resolve_media(tmp_path, str(inside), "image").path == str(inside)  # absolute, inside root


@pytest.mark.parametrize("bad", ["../x.wav", "a/../../x.wav", "/etc/passwd", ""])
def test_resolve_rejects_escapes(tmp_path: Path, bad: str) -> None:
    with pytest.raises(MediaError):
        resolve_media(tmp_path / "root", bad, "audio")


def test_resolve_rejects_symlink_out_of_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "secret.wav"
    root.mkdir()
    outside.write_bytes(b"x")
    os.symlink(outside, root / "link.wav")
    with pytest.raises(MediaError, match="escapes the dataset root: link.wav"):
        resolve_media(root, "link.wav", "audio")


def test_resolve_rejects_urls(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="remote media are not supported yet"):
        resolve_media(tmp_path, "https://example.com/a.wav", "audio")


# ------------------------------------------------------------------------------------- audio


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_resample_keeps_length_and_pitch(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tone.{suffix}"
    sf.write(path, tone(), SR_IN)
    x = load_audio(path, sr=16000)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 16000) <= 3
    assert abs(peak_hz(x, 16000) - 440) < 3


def test_native_rate_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, tone(), SR_IN, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path, sr=SR_IN), tone())


def test_stereo_to_mono_and_multichannel(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    left, right = tone(), tone(freq=1000)
    sf.write(path, np.stack([left, right], axis=1), SR_IN, subtype="FLOAT")
    mono = load_audio(path, sr=SR_IN)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    both = load_audio(path, sr=16000, mono=False)
    assert both.shape[0] == 2 and abs(both.shape[1] - 16000) <= 3 and both.dtype == np.float32
    assert abs(peak_hz(both[0], 16000) - 440) < 3 and abs(peak_hz(both[1], 16000) - 1000) < 3
    assert load_audio(tmp_path / "stereo.wav", mono=False).flags["C_CONTIGUOUS"]


def test_m4a_goes_through_pyav(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    write_av_audio(path, tone(), SR_IN, "aac")
    with pytest.raises(sf.LibsndfileError):  # so this really exercises the PyAV fallback
        sf.info(str(path))
    x = load_audio(path, sr=16000)
    # AAC pads its last 1024-sample frame and the mp4 muxer does not trim it: allow that much.
    assert 16000 - 3 <= len(x) <= 16000 + 1024 * 16000 // SR_IN + 3
    assert abs(peak_hz(x, 16000) - 440) < 3
    assert audio_duration(path) == pytest.approx(1.0, abs=0.05)


def test_mp3(tmp_path: Path) -> None:
    path = tmp_path / "tone.mp3"
    write_av_audio(path, tone(), SR_IN, "libmp3lame")
    x = load_audio(path, sr=16000)
    assert abs(len(x) - 16000) < 1200 and abs(peak_hz(x, 16000) - 440) < 3


def test_audio_track_of_video(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, audio=True)
    x = load_audio(path, sr=16000)
    assert abs(len(x) - 32000) < 1200 and abs(peak_hz(x, 16000) - 440) < 3
    assert video_duration(path) == pytest.approx(2.0, abs=0.1)


def test_video_without_audio_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    write_video(path, seconds=0.5)
    with pytest.raises(MediaError, match="no audio stream"):
        load_audio(path)


def test_corrupt_empty_and_missing_audio(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match=r"cannot decode audio .*corrupt\.wav"):
        load_audio(corrupt)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SR_IN)
    with pytest.raises(MediaError, match=r"empty\.wav: no audio samples"):
        load_audio(empty)
    with pytest.raises(MediaError, match=r"audio file not found: .*missing\.wav"):
        load_audio(tmp_path / "missing.wav")


def test_audio_duration(tmp_path: Path) -> None:
    path = tmp_path / "tone.flac"
    sf.write(path, tone(0.5), SR_IN)
    assert audio_duration(path) == pytest.approx(0.5)
    assert audio_duration(tmp_path / "missing.wav") is None
    (tmp_path / "junk.wav").write_bytes(b"junk")
    assert audio_duration(tmp_path / "junk.wav") is None


# ------------------------------------------------------------------------------------- image


def test_load_image(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("L", (8, 4), 200).save(path)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (8, 4) and img.getpixel((0, 0)) == (200, 200, 200)
    transparent = tmp_path / "t.png"
    Image.new("RGBA", (2, 2), (0, 0, 0, 0)).save(transparent)
    assert load_image(transparent).getpixel((0, 0)) == (255, 255, 255)


def test_corrupt_and_missing_image(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(good)
    truncated = tmp_path / "bad.png"
    truncated.write_bytes(good.read_bytes()[:60])  # valid header, truncated data
    with pytest.raises(MediaError, match=r"bad\.png"):
        load_image(truncated)
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(MediaError, match=r"junk\.png"):
        load_image(tmp_path / "junk.png")
    with pytest.raises(MediaError, match="image file not found"):
        load_image(tmp_path / "missing.png")


# ------------------------------------------------------------------------------------- video


def test_sample_frames_by_count(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    write_video(path)  # 20 frames, frame i has brightness 12*i
    frames = sample_video_frames(path, num_frames=8)
    assert len(frames) == 8 and all(f.mode == "RGB" and f.size == (32, 32) for f in frames)
    indices = [brightness(f) / 12 for f in frames]
    assert indices[0] < 0.5 and indices[-1] > 18.5  # spans the whole video
    steps = np.diff(indices)
    assert np.all(steps > 1.5) and np.all(steps < 3.5)  # ~19/7 apart each


def test_sample_frames_by_fps(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    write_video(path)
    frames = sample_video_frames(path, fps=2)
    assert [round(brightness(f) / 12) for f in frames] == [0, 5, 10, 15]
    capped = sample_video_frames(path, fps=10, max_frames=4)  # 20 frames wanted: spread 4 instead
    assert [round(brightness(f) / 12) for f in capped] == [0, 6, 13, 19]


def test_short_video_gives_each_frame_once(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    write_video(path, seconds=0.3)  # 3 frames
    assert len(sample_video_frames(path, num_frames=8)) == 3


def test_corrupt_and_missing_video(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match=r"corrupt\.mp4"):
        sample_video_frames(corrupt)
    with pytest.raises(MediaError, match=r"missing\.mp4"):
        sample_video_frames(tmp_path / "missing.mp4")
    assert video_duration(corrupt) is None


# ------------------------------------------------------------------------------------ decode


def test_decode_dispatches_on_kind(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", tone(), SR_IN)
    Image.new("RGB", (4, 4)).save(tmp_path / "i.png")
    write_video(tmp_path / "v.mp4", seconds=1.0)
    audio = decode(resolve_media(tmp_path, "a.wav", "audio"), audio_rate=8000)
    assert isinstance(audio, np.ndarray) and abs(len(audio) - 8000) <= 3
    assert isinstance(decode(Media("image", str(tmp_path / "i.png"))), Image.Image)
    assert len(decode(Media("video", str(tmp_path / "v.mp4")), video_frames=4)) == 4
