"""Loads a mongoexport JSON-lines file into a collection (what mongoimport
does), in batches. Runs in the SecantusDB venv, which has pymongo.

    python bench/load_documents.py URL DATABASE COLLECTION FILE
"""
import sys

from bson import json_util
from pymongo import MongoClient


def main():
    url, database, collection, path = sys.argv[1:5]
    coll = MongoClient(url)[database][collection]
    coll.drop()
    batch = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            batch.append(json_util.loads(line))
            if len(batch) == 10_000:
                coll.insert_many(batch, ordered=False)
                batch = []
    if batch:
        coll.insert_many(batch, ordered=False)
    print(coll.estimated_document_count())


if __name__ == "__main__":
    main()
