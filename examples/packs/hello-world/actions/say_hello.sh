#!/bin/sh
echo "Hello, ${ATTUNE_ACTION_PARAM_NAME:-world}!"
