"""The Textual console (`make_app` in `jobtui.ui.app`). The core never imports this."""
