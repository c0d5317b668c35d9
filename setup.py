# The C extension is declared here because setuptools only takes cffi_modules from setup().
from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"])
