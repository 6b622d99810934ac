#!/usr/bin/env node
'use strict';
require('./launch.cjs')('solo5-virtio-run', 'run');
