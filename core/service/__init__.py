"""The local engine service that hosts and the OFX bridge call: jobs over HTTP/JSON, frames in binary."""
