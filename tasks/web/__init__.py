"""The web dashboard: ``python -m tasks web`` (Starlette, Jinja2, uvicorn).

Read-only for everyone who can reach it (bound to 127.0.0.1 by default);
actions (trigger, retry, pause/resume, enable/disable) only for the admin
named in the settings, signed in, with a CSRF token, each recorded in
``admin_actions``. Reads run as ``meal_scheduler_readonly``; actions use the
operator's login, like the CLI. Modules: ``app`` (routes and server),
``reads`` (what the pages show), ``actions`` (admin changes + audit),
``auth`` (password hashes, session, CSRF), ``charts`` (server-drawn SVG),
``pages`` (the page endpoints), ``admin`` (sign-in and action endpoints).

Importing this package imports nothing from the web stack: ``app`` does,
when the command runs.
"""
