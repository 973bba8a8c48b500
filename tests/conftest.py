pytest_plugins = ["tests.conftest_openai"]
