"""The local runtime: the whole hub on one machine with no cloud account and no Docker.

AWS is moto's standalone server, vendors are the simulators, API Gateway is a small local
gateway that reads the routes from template.yaml and calls the same Lambda handlers, and
EventBridge + the SQS event source are local driver threads. Never deployed.
"""
