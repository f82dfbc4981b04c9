"""The shopper's screen: the only place in Vitrina that imports pygame. It renders view models."""
