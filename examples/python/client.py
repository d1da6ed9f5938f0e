"""Example client of the token service, as the original service documented it.

The original example passed the token to the Azure Speech SDK
(speechsdk.SpeechConfig(auth_token=...)) and recognized speech from the
microphone. This version stops before that step and prints the token, so it
runs without the Speech SDK, a microphone or an Azure account.

    pip install requests   (on Debian: apt-get install python3-requests)
    TOKEN_SERVICE_URL=http://localhost:8000/speech python3 client.py

The printed value has the form aad#<speech resource ID>#<access token>, the
form SpeechConfig(auth_token=...) expects.
"""

import os
import sys

import requests

token_service_url = os.environ.get("TOKEN_SERVICE_URL", "http://localhost:8000/speech")


def retrieve_token():
    response = requests.post(token_service_url, timeout=10)
    response.raise_for_status()
    return response.json()["speech_token"]


def main():
    try:
        token = retrieve_token()
    except (requests.RequestException, KeyError, ValueError) as err:
        # The exception text names the URL and status, never the token.
        print(f"retrieve speech token from {token_service_url}: {err}", file=sys.stderr)
        return 1
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
