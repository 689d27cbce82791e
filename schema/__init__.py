"""SQL migrations, shipped in the wheel as the package ``tasks.schema``."""
