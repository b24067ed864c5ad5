"""What every long-running process of the project (producer, simulator, recorder, gateway, notifier)
shares at run time, so each does it the same way."""
