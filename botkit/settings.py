"""Where botkit finds its project and keeps its files: the one place that reads the environment.

The config folder is ``--config-dir``, else ``$BOTKIT_CONFIG_DIR``, else ``./configs``; the data
folder (conversations, indexes, eval runs, trained heads and adapters) is ``$BOTKIT_HOME``, else the
per-user data directory (``~/.local/share/botkit`` on Linux). Everything else receives a
:class:`Settings` instead of looking these up itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from botkit.errors import BotkitError

CONFIG_ENV = "BOTKIT_CONFIG_DIR"
HOME_ENV = "BOTKIT_HOME"
DEFAULT_CONFIG_DIR = Path("configs")


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$BOTKIT_HOME``, else the per-user data directory (e.g. ~/.local/share/botkit)."""
    home = (os.environ if env is None else env).get(HOME_ENV)
    return Path(home).expanduser() if home else Path(platformdirs.user_data_dir("botkit"))


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    data_dir: Path
    plugin_dirs: tuple[Path, ...] = ()
    debug: bool = False
    #: Where the config folder came from, for error messages ("--config-dir", "$BOTKIT_CONFIG_DIR"...).
    config_origin: str = "./configs"

    @classmethod
    def resolve(
        cls,
        config_dir: Path | None = None,
        plugin_dirs: tuple[Path, ...] = (),
        debug: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        if config_dir is not None:
            folder, origin = config_dir, "--config-dir"
        elif env.get(CONFIG_ENV):
            folder, origin = Path(env[CONFIG_ENV]), f"${CONFIG_ENV}"
        else:
            folder, origin = DEFAULT_CONFIG_DIR, "./configs"
        return cls(folder.expanduser(), data_dir(env), plugin_dirs, debug, origin)

    @property
    def project_dir(self) -> Path:
        """The folder holding the config folder: knowledge sources and ``plugins/`` are there."""
        return self.config_dir.absolute().parent

    @property
    def all_plugin_dirs(self) -> tuple[Path, ...]:
        """The project's own ``plugins/`` folder, then the folders given with --plugins-dir."""
        return (self.project_dir / "plugins", *self.plugin_dirs)

    def require_config_dir(self) -> Path:
        """The config folder, or a clear error when there is none."""
        if not self.config_dir.is_dir():
            where = self.config_dir if self.config_dir.is_absolute() else f"./{self.config_dir}"
            raise BotkitError(
                f"no config folder at {where} (from {self.config_origin}): run `botkit init` to "
                "create a project here, or point --config-dir / $BOTKIT_CONFIG_DIR at one"
            )
        return self.config_dir
