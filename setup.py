"""The package layout pyproject.toml cannot express: the repository's top-level ``plugins/``
folder is installed as the package ``botkit_plugins`` (a name that cannot collide with a user's
own ``plugins``). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["botkit", "botkit.*"]),
        "botkit_plugins",
        *(f"botkit_plugins.{name}" for name in find_packages("plugins")),
    ],
    package_dir={"botkit_plugins": "plugins"},
)
