"""Personalize a pose estimator to the person in your own video: test-time personalization (Sec. 3.2) end to end.

    from ttpose.video_personalize import PersonalizeOptions, personalize_video
    result = personalize_video("clip.mp4", "model.safetensors", "out/", PersonalizeOptions(mode="online"))
    result.personalized.joints    # N x K x 2 full-frame pixels, one row per decoded frame (result.frame_ids)

or ``ttpose personalize clip.mp4 --checkpoint model.safetensors --out out/`` (docs/personalize-your-video.md),
which builds the `PersonalizeOptions` from its flags. `personalize_many` does the same for a folder of videos.
What a path holds (a video, one person's images, a folder of videos) is `ttpose.data.video.input_kind`'s call.

The modules, in the order a run uses them:

- ``options``: what the user chooses (`PersonalizeOptions`).
- ``loaded_model``: the model with its identity and its saved TTP settings (`LoadedModel`).
- ``run``: one video's run as the steps share it (`VideoRun`) and what it hands back (`VideoResult`).
- ``pipeline``: one video, top to bottom as the data flows (`personalize_video`): checks, boxes, pass 1
  (online updates or stored crops), the offline updates, smoothing (its docstring lists the steps).
- ``outputs``: the output folder: checked before any work, then keypoints, overlay video and summary.json.
- ``many``: a folder of videos, sharded over ``torchrun``'s ranks (`personalize_many`, `rank_and_world`).

Every output is atomic (`ttpose.atomic`): Ctrl-C leaves finished files complete and no partial ones, and
``resume=True`` continues an interrupted run from ``OUT/.ttpose-resume/`` (`ttpose.resume`) with the result of
an uninterrupted one.
"""

from ttpose.video_personalize.loaded_model import LoadedModel
from ttpose.video_personalize.many import ManyResult, personalize_many, rank_and_world
from ttpose.video_personalize.options import PersonalizeOptions
from ttpose.video_personalize.outputs import OutputError, check_writable
from ttpose.video_personalize.pipeline import personalize_video
from ttpose.video_personalize.run import VideoResult

__all__ = ["LoadedModel", "ManyResult", "OutputError", "PersonalizeOptions", "VideoResult", "check_writable",
           "personalize_many", "personalize_video", "rank_and_world"]
