# require "commented"
=begin
require 'in_block'
=end
require_relative('x/y'); autoload :Z, "z"
autoload("W", 'w') if defined?(W)
s = "require 'in_string' #{require 'interpolated'}"
require File.join('digest', name) rescue nil
Kernel.require "k"; { require: "key" }
