"""A site's users: subject tokens and the secrets that sign them, and what a site backend may know of them."""
