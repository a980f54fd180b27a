"""``healthkiosk devices print-test``: the technician's test slip, here on the
emulated printers (the console script of this tree, as a technician runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.slipcheck import find_line

pytestmark = pytest.mark.timeout(120)

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("healthkiosk"))
"""This environment's console script, whatever the PATH."""


def healthkiosk(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "hk.toml"
    cfg.write_text(
        f'[station]\ndata_dir = "{tmp_path / "data"}"\nname = "示例社区卫生服务站"\n'
        f'doctor_name = "李建华"\ndoctor_phone = "010-6512 3456"\n{config}',
        encoding="utf-8",
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("HEALTHKIOSK_CONFIG", None)
    return subprocess.run(
        [CONSOLE_SCRIPT, "--config", str(cfg), "devices", "print-test", *args],
        capture_output=True, text=True, timeout=100, env=env, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("config", "width"),
    [
        ("", 384),  # nothing configured: the USB printer's twin, 58 mm
        ('[devices.printer]\ndriver = "escpos-serial"\nport = "/dev/ttyUSB9"\ndot_width = 576\n',
         576),
    ],
)  # fmt: skip
def test_emulate_writes_the_slip_as_the_printer_printed_it(
    tmp_path: Path, config: str, width: int
) -> None:
    out = tmp_path / "slip.png"
    result = healthkiosk(tmp_path, config, "--emulate", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "printed a test slip" in result.stdout and str(out) in result.stdout
    image = Image.open(out)
    assert image.width == width and image.height > 1000
    # It is the test slip, marked at the top, with the station and the doctor.
    assert find_line(image, "测试小票 · 示例数据", "heading") == 8
    assert find_line(image, "健康自测结果", "title") is not None
    assert find_line(image, "示例社区卫生服务站", "body") is not None
    assert find_line(image, "电话：010-6512 3456", "heading") is not None
    assert find_line(image, "136/84 mmHg", "value") is not None
    # The bottom: fed past the tear bar (white), after the second TEST mark.
    bottom = image.convert("L").crop((0, image.height - 100, width, image.height))
    assert bottom.getextrema() == (255, 255)


def test_a_printer_without_paper_is_one_plain_line(tmp_path: Path) -> None:
    result = healthkiosk(tmp_path, "", "--emulate", "--fault", "no_paper")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("out of paper before the slip")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no printer: configure [devices.printer], or give --port or --emulate"),
        (("--out", "x.png"), "--out and --fault go with --emulate"),
        (("--port", "/dev/ttyNOPE"), "no serial port at /dev/ttyNOPE"),
        (("--emulate", "--dot-width", "380"), "--dot-width: 380 is not a printer's width"),
        (("--driver", "sam-idcard", "--emulate"), "sam-idcard is a id card driver, not a printer"),
    ],
)
def test_what_cannot_print_is_named(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = healthkiosk(tmp_path, "", *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(message), result.stderr
