"""The only code in Vitrina that talks MQTT: topics, transport, TLS and commands.

This package imports nothing else of Vitrina's; paho-mqtt is imported only here.
"""

__version__ = "0.1.0"
