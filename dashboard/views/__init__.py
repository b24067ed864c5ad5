"""The pages of the app, one module each; every module has `render(ctx)`."""
