"""How many images decode at once: a few slots, each decode in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sora_bot.media.images import PreparedImage, prepare_image

DECODE_SLOTS = 2  # with DECODE_MAX_PIXELS, bounds the memory all decodes together may hold


class ImageGate:
    """Runs ``prepare_image`` for callers, at most ``slots`` at a time; the others wait.

    A slot is held until its thread has finished, even when the caller stops waiting
    (cancelled, timed out): a thread cannot be stopped, so it must still count.
    """

    def __init__(
        self,
        slots: int = DECODE_SLOTS,
        *,
        prepare: Callable[[bytes], PreparedImage] = prepare_image,
    ) -> None:
        if slots < 1:
            raise ValueError("an image gate needs at least one slot")
        self.slots = slots
        self._free = asyncio.Semaphore(slots)
        self._prepare = prepare

    async def prepare(self, data: bytes) -> PreparedImage:
        """The checked (maybe re-encoded) image, or ``InvalidInput`` saying what is wrong."""
        await self._free.acquire()
        try:
            work = asyncio.get_running_loop().run_in_executor(None, self._prepare, data)
        except BaseException:
            self._free.release()
            raise
        work.add_done_callback(self._finished)
        return await asyncio.shield(work)

    def _finished(self, work: asyncio.Future[PreparedImage]) -> None:
        self._free.release()
        if not work.cancelled():
            work.exception()  # retrieved: a refusal nobody waits for any more is no error
