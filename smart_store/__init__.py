# smart_store: a cashier-less store on ROS 2.
#
# This file only exists in the source tree. On a colcon install rosidl generates the package's
# (empty) __init__.py and CMake installs every other module next to it. When the code runs from
# the source tree (`./smart-store` on a pip install), the generated interfaces live in another
# folder (.build/pip/install/...); extend_path lets `smart_store.msg` be found there.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
