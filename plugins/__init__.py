"""botkit's built-in task plugins (installed as ``botkit_plugins``): each subpackage is a plugin
that botkit finds through its ``botkit.plugins`` entry point, like any other package's."""
