"""Test doubles and harnesses, shared by every test tier and by ``bench``.

Local doubles of Discord (REST + gateway) and of the video provider, both on 127.0.0.1; fakes
of the core's own interfaces; builders that run the real core or the real bot against them;
and the helpers of the crash and fault suites. Import from here: ``from tests.doubles import
DiscordDouble, running_core``.
"""

from __future__ import annotations

from . import hostile_images
from .bot_harness import (
    MANAGE_GUILD,
    admin,
    answer_text,
    answered,
    bot_env,
    bot_messages,
    bot_process,
    finished,
    png_bytes,
    reply,
    running_bot,
    set_manage_guild,
    video_posts,
    wait_answer,
    wait_job,
    wait_reply,
)
from .cli import run_cli
from .core import running_core
from .crash_harness import PHASES, run_trials
from .discord import (
    MIB,
    DiscordDouble,
    FileSpec,
    InteractionHandle,
    Message,
    Permission,
    ThreadedDouble,
    User,
    pointed_at,
)
from .fakes import FakeClock, RecordingDelivery
from .fault_helpers import ROOMY, options, use_short_timeouts, user, wait_for_job, wait_terminal
from .polls import PollRun, simulate
from .provider import (
    CREATE_PATH,
    ENVELOPES,
    FAILURE_CODES,
    FILES_PATH,
    TASKS_PATH,
    DoubleTask,
    ProviderDouble,
    RecordingHost,
    StaticResolver,
    default_video_bytes,
    running_provider,
    running_recording_host,
)
from .raw_http import (
    RawClient,
    WakeRecorder,
    callback_jobs,
    close_all,
    raw_connect,
    raw_request,
)
from .settings import ROOT, make_settings
from .storage_faults import disk_full, unwritable

__all__ = [
    "CREATE_PATH",
    "ENVELOPES",
    "FAILURE_CODES",
    "FILES_PATH",
    "MANAGE_GUILD",
    "MIB",
    "PHASES",
    "ROOMY",
    "ROOT",
    "TASKS_PATH",
    "DiscordDouble",
    "DoubleTask",
    "FakeClock",
    "FileSpec",
    "InteractionHandle",
    "Message",
    "Permission",
    "PollRun",
    "ProviderDouble",
    "RawClient",
    "RecordingDelivery",
    "RecordingHost",
    "StaticResolver",
    "ThreadedDouble",
    "User",
    "WakeRecorder",
    "admin",
    "answer_text",
    "answered",
    "bot_env",
    "bot_messages",
    "bot_process",
    "callback_jobs",
    "close_all",
    "default_video_bytes",
    "disk_full",
    "finished",
    "hostile_images",
    "make_settings",
    "options",
    "png_bytes",
    "pointed_at",
    "raw_connect",
    "raw_request",
    "reply",
    "run_cli",
    "run_trials",
    "running_bot",
    "running_core",
    "running_provider",
    "running_recording_host",
    "set_manage_guild",
    "simulate",
    "unwritable",
    "use_short_timeouts",
    "user",
    "video_posts",
    "wait_answer",
    "wait_for_job",
    "wait_job",
    "wait_reply",
    "wait_terminal",
]
