"""flask_app: the seed's design for the hellod benchmark: Flask returning the same JSON, run by gunicorn behind nginx."""
from flask import Flask, Response

app = Flask(__name__)
BODY = '{"message":"Hello World"}'


@app.route("/helloworld")
def helloworld():
    return Response(BODY, status=200, content_type="application/json")
