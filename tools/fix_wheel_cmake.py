"""Rewrite the build host's Python paths in the ROS wheels' exported CMake files.

The ROS 2 Kilted wheels on PyPI were built in a manylinux container whose interpreter lived in
/opt/python/cp311-cp311. Their exported CMake targets still name that interpreter's include
directory and NumPy's include directory, so configuring any package that depends on them
fails. We substitute this interpreter's paths. Running it twice changes nothing.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_HOST = '/opt/python/cp311-cp311'
REPLACEMENTS = (
    (f'{BUILD_HOST}/lib/python3.11/site-packages/numpy/_core/include', numpy.get_include()),
    (f'{BUILD_HOST}/include/python3.11', sysconfig.get_paths()['include']),
)


def main(prefix: str) -> int:
    changed = 0
    for path in sorted(Path(prefix, 'share').rglob('*.cmake')):
        text = path.read_text(encoding='utf-8')
        if BUILD_HOST not in text:
            continue
        for old, new in REPLACEMENTS:
            text = text.replace(old, new)
        path.write_text(text, encoding='utf-8')
        changed += 1
    left = [p for p in Path(prefix, 'share').rglob('*.cmake') if BUILD_HOST in p.read_text('utf-8')]
    if left:
        print(f'fix_wheel_cmake: unknown build-host path left in {left[0]}', file=sys.stderr)
        return 1
    print(f'fix_wheel_cmake: {changed} file(s) rewritten')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else sys.prefix))
