"""The only place media is decoded: path confinement, audio, images and video frames.

Every failure a user can act on (missing, corrupt, empty, outside the dataset root) surfaces as a
MediaError naming the file, so one bad clip becomes an error record instead of a crashed run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import av
import numpy as np
import soundfile as sf
import soxr
from PIL import Image, ImageOps

from harness.types import Media, MediaError, MediaKind

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def resolve_media(root: str | Path, path: str, kind: MediaKind) -> Media:
    """Join a dataset-relative (or absolute) path to `root` and confine it there.

    ".." and symlinks are resolved first, so neither can smuggle a file from outside the root in.
    Existence is not checked: a missing file becomes an error when it is decoded.
    """
    if kind not in get_args(MediaKind):
        raise MediaError(f"unknown media kind {kind!r} for {path}")
    if _SCHEME.match(path):
        raise MediaError(f"remote media are not supported yet: {path}")
    if not path.strip():
        raise MediaError("empty media path")
    try:
        base = Path(root).resolve()
        resolved = (base / path).resolve()  # an absolute `path` replaces `base` here
    except (OSError, RuntimeError, ValueError) as e:  # symlink loops, NUL bytes
        raise MediaError(f"bad media path {path!r}: {e}") from e
    if resolved == base or not resolved.is_relative_to(base):
        raise MediaError(f"media path escapes the dataset root: {path}")
    return Media(kind=kind, path=str(resolved))


# ---------------------------------------------------------------------------------------- audio


def _reason(e: BaseException) -> str:
    """A one-line cause; FFmpeg errors carry it in strerror (str() repeats errno and path)."""
    text = getattr(e, "strerror", None) or str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 via libsndfile: fast and exact for wav/flac/ogg (and mp3)."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data, int(rate)


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 from the first audio stream of anything FFmpeg opens."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise MediaError(f"cannot decode audio {path}: no audio stream")
        stream = container.streams.audio[0]
        resampler: av.AudioResampler | None = None
        chunks: list[np.ndarray] = []
        rate = 0
        for frame in container.decode(stream):
            if resampler is None:
                # Pin format, layout and rate to the first frame's, so a mid-stream change of
                # layout or rate (it happens in broadcast captures) is converted, not concatenated.
                rate = frame.sample_rate
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=rate)
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        if resampler is not None:
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    if not chunks:
        return np.zeros((0, 1), np.float32), rate
    return np.concatenate(chunks, axis=1).T, rate  # planar (channels, n) -> (n, channels)


def load_audio(path: str | Path, sr: int = 16000, mono: bool = True) -> np.ndarray:
    """Decode an audio file (or a video file's audio track) to float32 at `sr` Hz.

    Returns shape (n,) when `mono` (channels averaged), else (channels, n).
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(f"audio file not found: {path}")
    try:
        try:
            data, rate = _read_soundfile(path)
        except Exception:
            # Not a libsndfile format (m4a, aac, opus-in-webm, video containers): ask FFmpeg, whose
            # error is the one reported, since it is the decoder of last resort.
            data, rate = _read_av(path)
    except MediaError:
        raise
    except Exception as e:
        raise MediaError(f"cannot decode audio {path}: {_reason(e)}") from e
    if data.shape[0] == 0:
        raise MediaError(f"cannot decode audio {path}: no audio samples")
    if mono:
        data = data.mean(axis=1, keepdims=True)  # the same downmix on both decode paths
    if rate != sr:
        data = soxr.resample(data, rate, sr, quality="HQ")
        data = data.reshape(-1, 1) if data.ndim == 1 else data  # soxr may drop a lone channel axis
    out = data[:, 0] if mono else data.T
    return np.ascontiguousarray(out, dtype=np.float32)


def audio_duration(path: str | Path) -> float | None:
    """Seconds, from headers only (for sorting batches by length); None when unknown."""
    try:
        info = sf.info(str(path))
        if info.samplerate > 0:
            return info.frames / info.samplerate
    except Exception:
        pass
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
    except Exception:
        pass
    return None


# ---------------------------------------------------------------------------------------- image


def load_image(path: str | Path) -> Image.Image:
    """An RGB image, fully decoded here (PIL is lazy) so truncated files fail now, not in a model."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"image file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF only
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                # Transparent pixels would turn black in a plain convert: put them on white.
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(background, rgba).convert("RGB")
            return img.convert("RGB")
    except Exception as e:
        raise MediaError(f"cannot decode image {path}: {_reason(e)}") from e


# ---------------------------------------------------------------------------------------- video


def video_duration(path: str | Path) -> float | None:
    """Seconds from container metadata; None when absent or unreadable (never raises)."""
    try:
        with av.open(str(path)) as container:
            if container.streams.video:
                stream = container.streams.video[0]
                if stream.duration is not None and stream.time_base is not None:
                    return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / av.time_base
    except Exception:
        pass
    return None


def _frame_times(container: Any, stream: Any) -> list[float]:
    """Presentation times of every frame, from packets alone (demuxing is cheap, decoding is not).

    Metadata durations are often missing or wrong (webm, streamed mp4), packet timestamps are not.
    """
    pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0)
    if pts:
        return [float(t * stream.time_base) for t in pts]
    rate = float(stream.average_rate or 25)  # raw streams without timestamps: count packets
    count = sum(1 for p in container.demux(stream) if p.size > 0)
    return [i / rate for i in range(count)]


def _targets(times: list[float], num_frames: int | None, fps: float | None, max_frames: int) -> list[float]:
    start, end = times[0], times[-1]
    if fps is not None:
        count = int(np.floor((end - start) * fps + 1e-6)) + 1
        if count <= max_frames:
            return [start + i / fps for i in range(count)]
        num_frames = max_frames  # too long for the cap: spread the cap over the whole video instead
    assert num_frames is not None
    return [float(t) for t in np.linspace(start, end, min(num_frames, max_frames))]


def sample_video_frames(
    path: str | Path, num_frames: int | None = 8, fps: float | None = None, max_frames: int = 64
) -> list[Image.Image]:
    """RGB frames: `num_frames` evenly spaced over the video, or one every 1/`fps` seconds
    (fps wins when given; at most `max_frames`). Frames are picked nearest each target time while
    decoding sequentially, so no seeking (unreliable on many containers) is needed. A video with
    fewer frames than asked for gives each frame once."""
    # Argument errors are the caller's bug, so ValueError; checked before the decoding try, because
    # PyAV's InvalidDataError is itself a ValueError subclass.
    if fps is None and (num_frames is None or num_frames <= 0):
        raise ValueError("sample_video_frames needs num_frames > 0 or fps")
    if (fps is not None and fps <= 0) or max_frames <= 0:
        raise ValueError("fps and max_frames must be positive")
    path = Path(path)
    if not path.exists():
        raise MediaError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"cannot decode video {path}: no video stream")
            stream = container.streams.video[0]
            times = _frame_times(container, stream)
            if not times:
                raise MediaError(f"cannot decode video {path}: no video frames")
            targets = _targets(times, num_frames, fps, max_frames)
        # Reopen rather than seek(0) for the decoding pass: seeking fails on some raw streams.
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = _pick_frames(container, stream, targets)
        if not frames:
            raise MediaError(f"cannot decode video {path}: no decodable video frames")
        return frames
    except MediaError:
        raise
    except Exception as e:
        raise MediaError(f"cannot decode video {path}: {_reason(e)}") from e


def _pick_frames(container: Any, stream: Any, targets: list[float]) -> list[Image.Image]:
    picked: list[Image.Image] = []
    last_picked: object = None
    prev: tuple[float, Any] | None = None
    rate = float(stream.average_rate or 25)
    j = 0

    def take(frame: Any) -> None:
        nonlocal last_picked
        if frame is not last_picked:  # two targets nearest one frame: keep it once
            picked.append(frame.to_image())
            last_picked = frame

    for index, frame in enumerate(container.decode(stream)):
        t = frame.time if frame.time is not None else index / rate
        while j < len(targets) and t >= targets[j]:
            # The target lies between the previous frame and this one: take the nearer.
            if prev is not None and targets[j] - prev[0] <= t - targets[j]:
                take(prev[1])
            else:
                take(frame)
            j += 1
        if j == len(targets):
            break
        prev = (t, frame)
    if j < len(targets) and prev is not None:  # targets past the last decoded frame
        take(prev[1])
    return picked


# -------------------------------------------------------------------------------------- dispatch


def decode(media: Media, audio_rate: int = 16000, video_frames: int = 8) -> Any:
    """Decode one Media reference for a model: audio array, RGB image, or list of RGB frames."""
    if media.kind == "audio":
        return load_audio(media.path, sr=audio_rate, mono=True)
    if media.kind == "image":
        return load_image(media.path)
    if media.kind == "video":
        return sample_video_frames(media.path, num_frames=video_frames)
    raise MediaError(f"unknown media kind {media.kind!r}: {media.path}")


# ------------------------------------------------------------------------------------ writing (tests, examples)


def has_audio_track(path: str | Path) -> bool:
    """Whether a media file has an audio stream (headers only; False when unreadable)."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except Exception:
        return False


def write_video(path: str | Path, frames: Any, fps: int = 4, audio: np.ndarray | None = None,
                audio_rate: int = 16000) -> Path:
    """An MPEG-4 video of `frames` (uint8 RGB arrays, H x W x 3, even sizes) and, with `audio` (mono float32 in
    [-1, 1]), an AAC sound track at `audio_rate`: small clips with sound for tests and examples."""
    from fractions import Fraction

    path = Path(path)
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as c:
        vstream = c.add_stream("mpeg4", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        astream = c.add_stream("aac", rate=audio_rate, layout="mono") if audio is not None else None
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array, dtype=np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in vstream.encode(frame):
                c.mux(packet)
        for packet in vstream.encode():
            c.mux(packet)
        if astream is not None and audio is not None:
            pcm = np.clip(np.asarray(audio, dtype=np.float32), -1, 1).reshape(1, -1)
            block = 1024  # AAC's frame size
            for at in range(0, pcm.shape[1], block):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, at:at + block]), format="fltp",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = audio_rate, at, Fraction(1, audio_rate)
                for packet in astream.encode(chunk):
                    c.mux(packet)
            for packet in astream.encode():
                c.mux(packet)
    return path
