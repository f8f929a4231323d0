"""How the Rasa server is deployed: its tracker and lock stores, chosen from the environment."""
