"""Maps the top-level folders onto one import package: dialects/ imports as rusty_ir.dialects, etc."""

from setuptools import find_packages, setup

PACKAGE_DIRS = {
    "rusty_ir": "rusty_ir",
    "rusty_ir.dialects": "dialects",
    "rusty_ir.passes": "passes",
    "rusty_ir.backends": "backends",
}

packages = []
for package, folder in PACKAGE_DIRS.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=PACKAGE_DIRS, package_data={"": ["*.json", "*.wgsl", "*.mlir"]})
