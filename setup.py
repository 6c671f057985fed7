"""setuptools description of the pure-Python part of smart_store.

Who uses it: `pip install .` for someone who wants the ROS-free logic (config, geometry, twin,
tracking, arbiter, billing) as a library. The ROS package itself is built by colcon through
CMakeLists.txt (build type ament_cmake, see package.xml), which also generates the interfaces;
`./smart-store setup` does the pip-install equivalent of that build. The dependency pins are read
from requirements/runtime.txt so there is one list.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements() -> list[str]:
    lines = (HERE / 'requirements' / 'runtime.txt').read_text(encoding='utf-8').splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith('#')]


setup(
    name='smart_store',
    version='0.1.0',
    description='Cashier-less "just walk out" store on ROS 2',
    license='Apache-2.0',
    python_requires='==3.11.*',
    packages=find_packages(include=['smart_store', 'smart_store.*']),
    package_data={'smart_store': ['graph/executables.txt', 'twin/scenarios/*.yaml',
                                  'twin/scenarios/*.md', 'tracking/pose/weights/*.pt']},
    install_requires=requirements(),
    entry_points={'console_scripts': ['smart-store = smart_store.cli.main:main']},
)
