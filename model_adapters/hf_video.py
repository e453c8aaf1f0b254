"""Qwen2-VL and Qwen2.5-Omni processors where torchvision is missing (the CPU torch here cannot import it).

transformers 5 cannot build these processors at all without torchvision, not even for images: both require a video
processor, and every transformers video processor needs torchvision. `video_fallback()` fills that gap with a
NumPy/PIL port of Qwen2VLVideoProcessor; where torchvision is installed (a GPU host), it changes nothing and the real
processors are used. Frames are sampled with PyAV by harness.data.media before they get here.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from typing import Any


def video_fallback() -> bool:
    """Let Qwen2-VL and Qwen2.5-Omni processors load and process video where torchvision is missing.

    Call it once before `AutoProcessor.from_pretrained` on such a checkpoint. Where torchvision is importable it
    returns False and changes nothing: the real Qwen2VLVideoProcessor is used. Otherwise it returns True after
    patching two names of the `transformers` module (and nothing else):

    - `transformers.VideoProcessorMixin`: transformers defines it but exports it only with torchvision, and every
      processor's argument check looks it up by name, so without it no Qwen2-VL or Qwen2.5-Omni processor can be
      built at all, not even for images.
    - `transformers.Qwen2VLVideoProcessor`: without torchvision a placeholder that raises ImportError, and the class
      AutoVideoProcessor resolves a checkpoint's "video_processor_type": "Qwen2VLVideoProcessor" to. It becomes
      `NumpyQwen2VLVideoProcessor`, a NumPy/PIL port that gives the same patches (see its docstring).

    Idempotent. `build()` applies the same patch only while it builds and undoes it (`video_fallback_applied`), so
    that code loading the checkpoints is tested as it runs elsewhere: without the fallback unless it calls this.
    """
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return False
    _patch_transformers()
    return True


def _patch_transformers() -> dict[str, Any]:
    """Apply the fallback's two names; returns what `vars(transformers)` held before (None: nothing).

    The module patched is the one processing_utils looks names up in. Importing transformers.processing_utils
    re-executes transformers/__init__.py and puts a new module object in sys.modules["transformers"], so a name set
    on `transformers` before that import is lost: import it first, then patch what sys.modules holds.
    """
    import transformers.processing_utils
    from transformers.video_processing_utils import VideoProcessorMixin

    transformers = sys.modules["transformers"]
    if transformers is not transformers.processing_utils.transformers_module:
        raise RuntimeError("transformers.processing_utils no longer looks names up in sys.modules['transformers']")
    before = {name: vars(transformers).get(name) for name in ("VideoProcessorMixin", "Qwen2VLVideoProcessor")}
    if not hasattr(transformers, "VideoProcessorMixin"):
        transformers.VideoProcessorMixin = VideoProcessorMixin
    current = transformers.Qwen2VLVideoProcessor
    if not (isinstance(current, type) and issubclass(current, VideoProcessorMixin)):
        transformers.Qwen2VLVideoProcessor = _numpy_video_processor_class()
    return before


def _unpatch_transformers(before: dict[str, Any]) -> None:
    transformers = sys.modules["transformers"]
    for name, value in before.items():
        if value is None:
            vars(transformers).pop(name, None)
        else:
            setattr(transformers, name, value)


@contextlib.contextmanager
def video_fallback_applied() -> Iterator[None]:
    """`video_fallback()` for the duration of a `with` block, then transformers as it was (for builds and tests)."""
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        yield
        return
    before = _patch_transformers()
    try:
        yield
    finally:
        _unpatch_transformers(before)


@functools.lru_cache(maxsize=1)
def _numpy_video_processor_class() -> type:
    import numpy as np
    from PIL import Image
    from transformers.feature_extraction_utils import BatchFeature
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
    from transformers.processing_utils import VideosKwargs
    from transformers.video_processing_utils import VideoProcessorMixin
    from transformers.video_utils import make_batched_videos

    class NumpyQwen2VLVideoKwargs(VideosKwargs, total=False):
        min_pixels: int
        max_pixels: int
        patch_size: int
        temporal_patch_size: int
        merge_size: int
        min_frames: int
        max_frames: int
        cap_pixels_per_frame: bool
        max_video_tokens: int

    defaults = {
        "do_resize": True, "size": {"shortest_edge": 128 * 28 * 28, "longest_edge": 28 * 28 * 768}, "resample": 3,
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(OPENAI_CLIP_MEAN),
        "image_std": list(OPENAI_CLIP_STD), "do_convert_rgb": True, "patch_size": 14, "temporal_patch_size": 2,
        "merge_size": 2, "min_frames": 4, "max_frames": 768, "do_sample_frames": False, "max_video_tokens": 128000,
    }

    class NumpyQwen2VLVideoProcessor(VideoProcessorMixin):
        """Qwen2VLVideoProcessor without torch or torchvision: decoded frames in, the same patches out.

        A video is a (T, H, W, 3) uint8 array or a list of PIL frames; a call takes one video or a list of them, as
        Qwen2VLVideoProcessor does once a video is decoded. Each frame is resized with Qwen2-VL's smart_resize (PIL,
        bicubic by default, where Qwen2VLVideoProcessor uses torchvision's antialiased resize: values differ by
        about 1e-4 on average and patch counts not at all), rescaled and normalised; the frames are padded to a
        multiple of temporal_patch_size by repeating the last one and cut into patches in Qwen2VLVideoProcessor's
        order, giving the same `pixel_values_videos` and `video_grid_thw`. `cap_pixels_per_frame` is honoured. It
        does not decode files or URLs, nor sample frames (`do_sample_frames`): pass the frames you want.
        """

        valid_kwargs = NumpyQwen2VLVideoKwargs
        model_input_names = ["pixel_values_videos", "video_grid_thw"]

        def __init__(self, **kwargs: Any) -> None:
            settings = {key: kwargs.get(key, value) for key, value in defaults.items()}
            settings["size"] = dict(settings["size"])
            if (min_pixels := kwargs.pop("min_pixels", None)) is not None:
                settings["size"]["shortest_edge"] = min_pixels
            if (max_pixels := kwargs.pop("max_pixels", None)) is not None:
                settings["size"]["longest_edge"] = max_pixels
            for key in ("video_processor_type", "image_processor_type", "processor_class"):
                kwargs.pop(key, None)
            super().__init__(**{**kwargs, **settings})

        def preprocess(self, videos: Any, **kwargs: Any) -> BatchFeature:
            if kwargs.get("do_sample_frames"):
                raise NotImplementedError(f"{type(self).__name__} does not sample frames: pass the frames to use")
            opt = {key: kwargs[key] if kwargs.get(key) is not None else getattr(self, key) for key in defaults}
            opt["cap_pixels_per_frame"] = kwargs.get("cap_pixels_per_frame", getattr(self, "cap_pixels_per_frame", 0))
            size = {k: v for k, v in dict(opt["size"]).items() if v is not None}
            if kwargs.get("min_pixels") is not None:
                size["shortest_edge"] = kwargs["min_pixels"]
            if kwargs.get("max_pixels") is not None:
                size["longest_edge"] = kwargs["max_pixels"]
            patch, tps, merge = opt["patch_size"], opt["temporal_patch_size"], opt["merge_size"]
            mean = np.asarray(opt["image_mean"], dtype=np.float32).reshape(1, 3, 1, 1)
            std = np.asarray(opt["image_std"], dtype=np.float32).reshape(1, 3, 1, 1)
            all_patches, grids = [], []
            for video in make_batched_videos(videos):
                frames = np.asarray(video)
                if frames.ndim != 4:
                    raise ValueError(f"a video must be (frames, height, width, channels), got shape {frames.shape}")
                if frames.shape[1] in (1, 3) and frames.shape[-1] not in (1, 3):  # channels first
                    frames = frames.transpose(0, 2, 3, 1)
                if frames.dtype != np.uint8:
                    scale = 255.0 if frames.max() <= 1.0 else 1.0
                    frames = np.clip(np.rint(frames * scale), 0, 255).astype(np.uint8)
                if frames.shape[-1] == 1:
                    frames = np.repeat(frames, 3, axis=-1)
                height, width = frames.shape[1:3]
                if opt["do_resize"]:
                    max_pixels = size["longest_edge"]
                    if opt["cap_pixels_per_frame"]:  # as Qwen2VLVideoProcessor.resize
                        budget = int(opt["max_video_tokens"] * (patch * merge) ** 2 * 0.9) * tps // len(frames)
                        max_pixels = max(min(max_pixels, budget), int(size["shortest_edge"] * 1.05))
                    height, width = smart_resize(height, width, factor=patch * merge,
                                                 min_pixels=size["shortest_edge"], max_pixels=max_pixels)
                    if (height, width) != frames.shape[1:3]:
                        frames = np.stack([np.asarray(Image.fromarray(f).resize((width, height), opt["resample"]))
                                           for f in frames])
                x = frames.astype(np.float32).transpose(0, 3, 1, 2)  # T, C, H, W
                if opt["do_rescale"]:
                    x = x * np.float32(opt["rescale_factor"])
                if opt["do_normalize"]:
                    x = (x - mean) / std
                if pad := -len(x) % tps:
                    x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
                grid_t, grid_h, grid_w = len(x) // tps, height // patch, width // patch
                x = x.reshape(grid_t, tps, 3, grid_h // merge, merge, patch, grid_w // merge, merge, patch)
                x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)  # t, h/m, w/m, m, m, C, tps, p, p: Qwen2VLVideoProcessor's
                all_patches.append(x.reshape(grid_t * grid_h * grid_w, 3 * tps * patch * patch))
                grids.append([grid_t, grid_h, grid_w])
            data = {"pixel_values_videos": np.concatenate(all_patches), "video_grid_thw": np.array(grids)}
            return BatchFeature(data=data, tensor_type=kwargs.get("return_tensors"))

        def get_num_of_video_patches(self, num_frames: int, height: int, width: int, videos_kwargs: Any = None) -> int:
            videos_kwargs = videos_kwargs or {}
            size = videos_kwargs.get("size") or self.size
            patch = videos_kwargs.get("patch_size") or self.patch_size
            merge = videos_kwargs.get("merge_size") or self.merge_size
            tps = videos_kwargs.get("temporal_patch_size") or self.temporal_patch_size
            h, w = smart_resize(height, width, patch * merge, min_pixels=size["shortest_edge"],
                                max_pixels=size["longest_edge"])
            return (num_frames + -num_frames % tps) // tps * (h // patch) * (w // patch)

    return NumpyQwen2VLVideoProcessor


