"""The shipped checks; importing this package imports every module in it, and each
module registers its checks with `@check`."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
