"""Spoken prompts: recorded clips from a voice pack first, espeak-ng otherwise.

A voice pack is a folder with one sub-folder per language (``zh_CN``,
``en``) holding 16-bit PCM WAV clips named after the text keys of
:mod:`kiosk.app.texts` (``prep_bp.body.wav``, ``error.cuff_fit.wav``, ...)
and number clips (see ``docs/kiosk-voice.md``):

- ``zh_CN``: ``num_0`` … ``num_9``, ``num_10`` (十), ``num_100`` (百), ``num_point`` (点);
- ``en``: ``num_0`` … ``num_19``, ``num_20`` … ``num_90``, ``num_100`` (hundred),
  ``num_point`` (point).

When every clip of an utterance is in the pack it is played (``aplay``);
otherwise the whole utterance is spoken by espeak-ng. A missing player or
engine is a warning, never a crash. Playing runs as a subprocess awaited
on the loop: the UI never waits for speech, and a new prompt stops the
previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import wave
from array import array
from collections import deque
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ESPEAK_VOICES = {"zh_CN": "cmn", "en": "en"}
SPOKEN_KEPT = 200


@dataclass(frozen=True, slots=True)
class Say:
    """A text key with its parameters."""

    key: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    decimals: int = 0


Part = Say | Number


def number_clips(value: float, language: str, *, decimals: int = 0) -> list[str]:
    """Clip keys that read ``value`` aloud (whole numbers below 1000, and decimals)."""
    whole = int(value)
    keys = _zh_whole(whole) if language == "zh_CN" else _en_whole(whole)
    if decimals:
        digits = f"{value:.{decimals}f}".split(".")[1]
        keys.append("num_point")
        keys += [f"num_{d}" for d in digits]
    return keys


def _zh_whole(n: int) -> list[str]:
    if n == 0:
        return ["num_0"]
    h, t, u = n // 100 % 10, n // 10 % 10, n % 10
    out: list[str] = []
    if h:
        out += [f"num_{h}", "num_100"]
    if t:
        if not (t == 1 and not h):
            out.append(f"num_{t}")
        out.append("num_10")
    elif h and u:
        out.append("num_0")
    if u:
        out.append(f"num_{u}")
    return out


def _en_whole(n: int) -> list[str]:
    if n == 0:
        return ["num_0"]
    h, rest = n // 100 % 10, n % 100
    out: list[str] = []
    if h:
        out += [f"num_{h}", "num_100"]
    if 0 < rest < 20:
        out.append(f"num_{rest}")
    elif rest:
        out.append(f"num_{rest // 10 * 10}")
        if rest % 10:
            out.append(f"num_{rest % 10}")
    return out


def _words(parts: list[Part], language: str) -> str:
    from kiosk.app.i18n import text

    out = []
    for p in parts:
        if isinstance(p, Say):
            out.append(text(language, p.key, **dict(p.params)))
        else:
            out.append(f"{p.value:.{p.decimals}f}")
    return " ".join(out)


def scale_wav(data: bytes, volume: float) -> bytes:
    """A 16-bit PCM WAV with its samples scaled by ``volume``."""
    with wave.open(io.BytesIO(data)) as src:
        params = src.getparams()
        frames = src.readframes(src.getnframes())
    if params.sampwidth != 2:
        return data
    samples = array("h", frames)
    for i, s in enumerate(samples):
        samples[i] = max(-32768, min(32767, int(s * volume)))
    out = io.BytesIO()
    with wave.open(out, "wb") as dst:
        dst.setparams(params)
        dst.writeframes(samples.tobytes())
    return out.getvalue()


def chime_wav(rate: int = 16000) -> bytes:
    """Two soft tones (E6 then C6, 0.35 s each, faded): 16-bit mono PCM WAV."""
    import math

    samples = array("h")
    for freq in (1318.5, 1046.5):
        n = int(rate * 0.35)
        for i in range(n):
            fade = min(1.0, i / (rate * 0.01)) * (1.0 - i / n)
            samples.append(int(12000 * fade * math.sin(2 * math.pi * freq * i / rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as dst:
        dst.setnchannels(1)
        dst.setsampwidth(2)
        dst.setframerate(rate)
        dst.writeframes(samples.tobytes())
    return out.getvalue()


class Voice:
    def __init__(
        self,
        *,
        enabled: bool,
        volume: float,
        pack: Path | None,
        espeak: str = "espeak-ng",
        player: str = "aplay",
        chime: bool = True,
    ) -> None:
        self.enabled = enabled and volume > 0
        self.chime_enabled = chime
        self.volume = volume
        self.pack = pack
        self._espeak = shutil.which(espeak)
        self._player = shutil.which(player)
        self._task: asyncio.Task[None] | None = None
        self._warned: set[str] = set()
        self.spoken: deque[tuple[str, str]] = deque(maxlen=SPOKEN_KEPT)
        """(language, words) of the last utterances, for tests and the technician."""
        self.chimes = 0
        """How many times :meth:`chime` sounded (tests)."""
        self._chime_task: asyncio.Task[None] | None = None

    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("%s", message)

    def clips(self, parts: list[Part], language: str) -> list[Path] | None:
        """The pack's clips for the whole utterance, or None when one is missing."""
        if self.pack is None:
            return None
        folder = self.pack / language
        keys: list[str] = []
        for p in parts:
            if isinstance(p, Say):
                if p.params:
                    return None  # sentences with numbers inside need the engine
                keys.append(p.key)
            else:
                keys += number_clips(p.value, language, decimals=p.decimals)
        paths = [folder / f"{k}.wav" for k in keys]
        return paths if all(p.is_file() for p in paths) else None

    def say(self, parts: list[Part], language: str) -> None:
        """Speak without waiting; a new utterance stops the one before."""
        if not self.enabled or not parts:
            return
        words = _words(parts, language)
        self.spoken.append((language, words))
        if self._task is not None and not self._task.done():
            self._task.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._speak(parts, words, language))

    def chime(self) -> None:
        """A two-tone chime: a person is called to the station (issue 16).
        ``chime.wav`` from the voice pack when it has one, else a tone made
        here; played beside speech (never cut off by the next prompt), at
        least at half volume even when the voice is quiet or off."""
        if not self.chime_enabled:
            return
        self.chimes += 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._chime_task is not None and not self._chime_task.done():
            return
        self._chime_task = loop.create_task(self._play_chime())

    async def _play_chime(self) -> None:
        try:
            if self._player is None:
                self._warn_once("aplay", "aplay not found: the chime is not played")
                return
            pack = self.pack / "chime.wav" if self.pack is not None else None
            data = pack.read_bytes() if pack is not None and pack.is_file() else chime_wav()
            await self._run([self._player, "-q", "-"], scale_wav(data, max(self.volume, 0.5)))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the chime must never take the kiosk down
            self._warn_once(type(err).__name__, f"chime failed: {err}")

    async def _speak(self, parts: list[Part], words: str, language: str) -> None:
        try:
            clips = self.clips(parts, language)
            if clips and self._player:
                for clip in clips:
                    await self._run(
                        [self._player, "-q", "-"], scale_wav(clip.read_bytes(), self.volume)
                    )
                return
            if self._espeak is None:
                self._warn_once("espeak", "espeak-ng not found: prompts are not spoken")
                return
            voice = ESPEAK_VOICES.get(language, "en")
            amplitude = str(int(self.volume * 200))
            await self._run([self._espeak, "-v", voice, "-a", amplitude, "-s", "140", words], None)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # speech must never take the kiosk down
            self._warn_once(type(err).__name__, f"voice failed: {err}")

    async def _run(self, argv: list[str], stdin: bytes | None) -> None:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(proc.communicate(stdin), timeout=60)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.returncode not in (0, None):
            self._warn_once(f"rc{argv[0]}", f"{Path(argv[0]).name} exited {proc.returncode}")

    async def close(self) -> None:
        for task in (self._task, self._chime_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
