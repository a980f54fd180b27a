"""The ESC/POS raster codec: encode → parse → decode round trips, the strict
parser, band scaling, the status bytes, and Pillow images through it all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from drivers.printer import escpos_codec as codec
from drivers.printer.escpos_codec import Raster
from drivers.printer.pillow import to_image, to_raster
from healthkiosk.errors import ProtocolError


@st.composite
def rasters(draw: st.DrawFn, max_width_bytes: int = 8, max_rows: int = 40) -> Raster:
    x = draw(st.integers(1, max_width_bytes))
    y = draw(st.integers(1, max_rows))
    data = draw(st.binary(min_size=x * y, max_size=x * y))
    return Raster(x, y, data)


@settings(deadline=None)
@given(
    raster=rasters(),
    band_rows=st.integers(1, 50),
    feed=st.integers(0, 255),
    cut=st.booleans(),
)
def test_a_job_decodes_to_the_image_it_was_made_of(
    raster: Raster, band_rows: int, feed: int, cut: bool
) -> None:
    job = codec.encode_job(raster, band_rows=band_rows, feed_lines=feed, cut=cut)
    commands = codec.parse(job)
    assert codec.decode(job) == raster
    assert commands[0] == codec.Init()
    bands = [c for c in commands if isinstance(c, codec.RasterBand)]
    assert len(bands) == -(-raster.height // band_rows)
    assert all(b.raster.height <= band_rows and b.scale == 0 for b in bands)
    tail = commands[1 + len(bands) :]
    expected: list[codec.Command] = []
    if feed:
        expected.append(codec.Feed(feed))
    if cut:
        expected.append(codec.Cut(partial=True))
    assert tail == expected


@settings(deadline=None)
@given(raster=rasters(max_rows=10), data=st.data())
def test_every_truncation_is_incomplete_never_garbage(raster: Raster, data: st.DataObject) -> None:
    job = codec.encode_job(raster, band_rows=4)
    cut_at = data.draw(st.integers(1, len(job) - 1))
    head = job[:cut_at]
    # The framer waits for the rest...
    pos = 0
    while True:
        cmd, end = codec.next_command(head, pos)
        if cmd is None:
            break
        pos = end
    # ...and a whole-stream parse says it is truncated, unless the cut fell between commands.
    if pos < len(head):
        with pytest.raises(ProtocolError) as err:
            codec.parse(head)
        assert err.value.reason == "truncated"


def test_a_pillow_image_survives_the_round_trip_pixel_for_pixel() -> None:
    image = Image.new("1", (384, 300), 1)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    draw.rectangle((0, 0, 383, 3), fill=0)
    draw.ellipse((40, 40, 200, 200), outline=0, width=5)
    draw.text((10, 250), "GS v 0 round trip 184/110", fill=0)
    raster = to_raster(image)
    assert (raster.width, raster.height) == (384, 300)
    job = codec.encode_job(raster, band_rows=64)
    back = to_image(codec.decode(job))
    assert back.size == image.size
    assert back.tobytes() == image.tobytes()


def test_an_antialiased_image_is_thresholded_not_dithered() -> None:
    grey = Image.new("L", (16, 2), 0)
    grey.putpixel((0, 0), 200)  # light: white
    grey.putpixel((1, 0), 100)  # dark: black
    raster = to_raster(grey)
    assert raster.row(0) == bytes([0b01111111, 0xFF])
    assert raster.row(1) == b"\xff\xff"


def test_the_width_must_be_whole_bytes() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        to_raster(Image.new("1", (385, 4), 1))


def test_the_bytes_are_those_of_the_manuals() -> None:
    raster = Raster(2, 3, bytes(range(6)))
    assert codec.encode_job(raster, band_rows=2, feed_lines=5, cut=True) == (
        b"\x1b@"
        + b"\x1dv0\x00\x02\x00\x02\x00" + bytes(range(4))
        + b"\x1dv0\x00\x02\x00\x01\x00" + bytes(range(4, 6))
        + b"\x1bd\x05"
        + b"\x1dV\x01"
    )  # fmt: skip
    assert codec.status_query(4) == b"\x10\x04\x04"


def test_the_parser_fails_on_any_command_we_do_not_send() -> None:
    for junk in (b"hello", b"\x1b!\x00", b"\x1dv1", b"\x1c&", b"\x10\x05\x01", b"\x1dV\x07"):
        with pytest.raises(ProtocolError) as err:
            codec.parse(b"\x1b@" + junk)
        assert err.value.reason == "unknown_command"
        assert err.value.raw.startswith(junk[:1])


def test_the_parser_reads_the_commands_other_drivers_send() -> None:
    stream = b"\x1b@\x1ba\x01\n\x1bd\x03\x1dVB\x10\x1dV\x00\x10\x04\x01"
    assert codec.parse(stream) == [
        codec.Init(),
        codec.Justify(1),
        codec.Feed(1),
        codec.Feed(3),
        codec.Cut(partial=True, feed_dots=16),
        codec.Cut(partial=False),
        codec.StatusQuery(1),
    ]


def test_a_scaled_band_prints_double_width_and_height() -> None:
    band = Raster(1, 2, bytes([0b10100000, 0b00000001]))
    wide = codec.decode(b"\x1dv0\x01\x01\x00\x02\x00" + band.data)
    assert wide == Raster(2, 2, bytes([0b11001100, 0, 0, 0b00000011]))
    tall = codec.decode(b"\x1dv0\x32\x01\x00\x02\x00" + band.data)  # m = 50: double height
    assert tall == Raster(1, 4, bytes([0b10100000, 0b10100000, 1, 1]))


def test_bands_of_different_widths_stack_left_aligned() -> None:
    narrow, wide = Raster(1, 1, b"\xff"), Raster(2, 1, b"\x0f\xf0")
    assert codec.stack([narrow, wide]) == Raster(2, 2, b"\xff\x00\x0f\xf0")


def test_a_band_outside_the_limits_is_refused() -> None:
    with pytest.raises(ValueError, match="2303"):
        codec.raster_band(Raster.blank(1, 2304))
    with pytest.raises(ValueError, match="255"):
        codec.raster_band(Raster.blank(256, 1))
    with pytest.raises(ValueError):
        Raster(2, 2, b"\x00")


@pytest.mark.parametrize(
    ("n", "flags", "byte"),
    [
        (1, {}, 0x12),
        (1, {"offline": True}, 0x1A),
        (2, {"cover_open": True}, 0x16),
        (2, {"paper_end": True}, 0x32),
        (2, {"error": True}, 0x52),
        (4, {}, 0x12),
        (4, {"near_end": True}, 0x1E),
        (4, {"paper_end": True}, 0x72),
    ],
)
def test_status_bytes_as_epson_documents_them(n: int, flags: dict[str, bool], byte: int) -> None:
    assert codec.status_byte(n, **flags) == byte


def test_status_answers_are_read_and_nonsense_is_refused() -> None:
    assert codec.printer_offline(0x12) is False
    assert codec.printer_offline(0x1A) is True
    assert codec.offline_cause(0x16) == (True, False, False)
    assert codec.paper_sensor(0x72) == (True, False)
    assert codec.paper_sensor(0x1E) == (False, True)
    with pytest.raises(ProtocolError) as err:
        codec.paper_sensor(0x41)  # not a status byte (an ASCII "A")
    assert err.value.raw == b"\x41"
