#!/usr/bin/env node
'use strict';
var a = require('a'), b = require("@scope/b/sub");
// require('commented')
/* require('block') */
const r = /require\('x'\)[/'"]/g, half = total / 2;
const t = `${require('in-template')} ${ { o: `${`deep`}` } }`;
module.exports = function () { return require.resolve('punycode/') };
